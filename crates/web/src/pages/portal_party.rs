//! A dispute's parties on the public lookup: a party who gives the receipt
//! code and the last four digits of their own phone sees the case's records
//! as far as the pack makes them public (the next session, the agreement's
//! terms) and takes the record actions the pack leaves to their role in the
//! case, such as confirming an agreement. Nothing else of the case opens.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use serde::Deserialize;

use gongzhi_domain::time::now_micros;
use gongzhi_store::{CaseRecord, PartyRecord, StoreError};

use super::Lang;
use super::form_token::FormToken;
use super::portal::{LookupForm, lookup_error, portal_actor, show_lookup};
use super::session::MaybeStaff;
use crate::api::public::find_by_receipt_as;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct PartyActForm {
    receipt_code: String,
    phone_last4: String,
    record_id: String,
    action: String,
    form_token: Option<String>,
}

/// `POST /lookup/record`: a party takes a record action, proven again by
/// the code and their phone's digits (the rate limiter applies).
pub async fn party_act(
    State(state): State<AppState>,
    lang: Lang,
    MaybeStaff(staff): MaybeStaff,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    token: FormToken,
    Form(form): Form<PartyActForm>,
) -> Response {
    let staff = staff.as_ref();
    let lookup = LookupForm {
        receipt_code: form.receipt_code.clone(),
        phone_last4: form.phone_last4.clone(),
        form_token: None,
    };
    if !token.matches(form.form_token.as_deref()) {
        return super::portal::forged(&state, lang, staff, &token, form.receipt_code);
    }
    let (case, party) =
        match find_by_receipt_as(&state, addr.ip(), &form.receipt_code, &form.phone_last4).await {
            Ok(found) => found,
            Err(e) => return lookup_error(&state, lang, staff, &token, e, form.receipt_code),
        };
    let notice = match take(&state, &case, party.as_ref(), &form).await {
        Ok(()) => lang.t("party_portal.done"),
        Err(Refusal::NotParty) => lang.t("party_portal.not_party"),
        Err(Refusal::NotNow) => lang.t("party_portal.not_now"),
        Err(Refusal::Failed(e)) => {
            tracing::error!(error = %e, "party record action");
            lang.t("party_portal.failed")
        }
    };
    let case = match state.db.case_unscoped(&case.id).await {
        Ok(Some(case)) => case,
        Ok(None) => return super::PageError::NotFound.render(&state, lang, staff),
        Err(e) => return super::PageError::from(e).render(&state, lang, staff),
    };
    let found = Some((case, party));
    show_lookup(
        &state,
        lang,
        staff,
        &token,
        addr.ip(),
        lookup,
        found,
        Some(notice),
    )
    .await
}

enum Refusal {
    /// The phone is the requester's, not a party's.
    NotParty,
    /// The record is not in a state where this party may act, or is gone.
    NotNow,
    Failed(StoreError),
}

async fn take(
    state: &AppState,
    case: &CaseRecord,
    party: Option<&PartyRecord>,
    form: &PartyActForm,
) -> Result<(), Refusal> {
    let party = party.ok_or(Refusal::NotParty)?;
    let records = state
        .db
        .records_of(&case.id)
        .await
        .map_err(Refusal::Failed)?;
    let def = records
        .iter()
        .find(|r| r.id == form.record_id)
        .and_then(|r| {
            state
                .packs
                .case_type(&case.pack, &case.case_type)?
                .records
                .get(&r.kind)
        })
        .ok_or(Refusal::NotNow)?;
    let actor = portal_actor(state).await.map_err(Refusal::Failed)?;
    let at = now_micros();
    let acted = state
        .db
        .party_acts_on_record_logged(
            &state.calendar,
            &actor,
            &case.id,
            &party.id,
            &form.record_id,
            def,
            &form.action,
            at,
        )
        .await;
    match acted {
        Ok(_) => Ok(()),
        Err(StoreError::Invalid { .. } | StoreError::NotFound(_)) => Err(Refusal::NotNow),
        Err(e) => Err(Refusal::Failed(e)),
    }
}
