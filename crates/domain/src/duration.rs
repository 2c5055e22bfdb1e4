//! Deadline rules as packs declare them: an amount of calendar hours, days or
//! months, working days or working hours.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationUnit {
    /// Round-the-clock hours (dispatch within 1 hour, within 24 hours).
    CalendarHours,
    CalendarDays,
    WorkingDays,
    WorkingHours,
    /// Months as the law counts them (Criminal Procedure Law art. 105 and
    /// the courts' reading of it): the starting day is not counted, and the
    /// period ends at the close of the same day of the month N months on —
    /// the month's last day where that day does not exist, and the last day
    /// when the period started on a month's last day.
    CalendarMonths,
}

impl DurationUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            DurationUnit::CalendarHours => "calendar_hours",
            DurationUnit::CalendarDays => "calendar_days",
            DurationUnit::WorkingDays => "working_days",
            DurationUnit::WorkingHours => "working_hours",
            DurationUnit::CalendarMonths => "calendar_months",
        }
    }

    pub fn parse(text: &str) -> Option<DurationUnit> {
        match text {
            "calendar_hours" => Some(DurationUnit::CalendarHours),
            "calendar_days" => Some(DurationUnit::CalendarDays),
            "working_days" => Some(DurationUnit::WorkingDays),
            "working_hours" => Some(DurationUnit::WorkingHours),
            "calendar_months" => Some(DurationUnit::CalendarMonths),
            _ => None,
        }
    }
}

/// "5 working days", "48 working hours", "15 calendar days".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DurationRule {
    pub amount: u32,
    pub unit: DurationUnit,
}

impl std::fmt::Display for DurationRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.amount, self.unit.as_str())
    }
}

impl std::str::FromStr for DurationRule {
    type Err = String;

    /// Parses the stored form, `"5 working_days"`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (amount, unit) = text
            .trim()
            .split_once(' ')
            .ok_or_else(|| format!("{text:?}: expected AMOUNT UNIT"))?;
        let amount: u32 = amount
            .parse()
            .map_err(|_| format!("{text:?}: bad amount"))?;
        let unit =
            DurationUnit::parse(unit.trim()).ok_or_else(|| format!("{text:?}: unknown unit"))?;
        Ok(DurationRule { amount, unit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_round_trip_through_text() {
        for unit in [
            DurationUnit::CalendarDays,
            DurationUnit::WorkingDays,
            DurationUnit::WorkingHours,
            DurationUnit::CalendarMonths,
        ] {
            let rule = DurationRule { amount: 5, unit };
            assert_eq!(rule.to_string().parse::<DurationRule>(), Ok(rule));
        }
        assert!("five working_days".parse::<DurationRule>().is_err());
        assert!("5 fortnights".parse::<DurationRule>().is_err());
        assert!("5".parse::<DurationRule>().is_err());
    }
}
