//! Masking of personal data in free text that the public sees (Open311
//! descriptions and published results): long digit runs (phone, ID and
//! account numbers, however written) and e-mail addresses become `***`.

const MASK: &str = "***";

/// Fewest digits in a run that is masked: a fixed-line number without its
/// area code has 7 or 8.
const MIN_DIGITS: usize = 7;

/// Masks phone, ID and account numbers and e-mail addresses in `text`.
/// Dates (`2026-05-01`) and short numbers (house numbers, amounts, times)
/// stay. Applying it again changes nothing.
pub fn redact_public_text(text: &str) -> String {
    // Each pass that changes anything shortens the text, so this ends; a
    // fixed point makes the result stable however the two kinds interleave
    // (a number masked inside what then reads as an address).
    let mut current = text.to_string();
    loop {
        let next = mask_numbers(&mask_emails(&current));
        if next == current {
            return next;
        }
        current = next;
    }
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || ('０'..='９').contains(&c)
}

fn digit_value(c: char) -> u32 {
    if c.is_ascii_digit() {
        c as u32 - '0' as u32
    } else {
        c as u32 - '０' as u32
    }
}

/// Separators written inside a number: `139 1234 5678`, `139-1234-5678`.
fn is_joiner(c: char) -> bool {
    matches!(c, ' ' | '\u{3000}' | '-' | '－' | '–' | '—')
}

/// Dots join only groups of 3 or more digits (`139.1234.5678`), so decimal
/// amounts (`12345.67`) and dotted dates (`2026.05.01`) are not one number.
fn is_dot(c: char) -> bool {
    matches!(c, '.' | '．')
}

fn group_len(chars: &[char], from: usize) -> usize {
    chars[from..].iter().take_while(|c| is_digit(**c)).count()
}

/// The end of a date `YYYY-M-D` (also `/` or `.`, the same twice) starting
/// at `i`, with a plausible year, month and day.
fn date_end(chars: &[char], i: usize) -> Option<usize> {
    let number = |from: usize, len: usize| -> u32 {
        chars[from..from + len]
            .iter()
            .fold(0, |n, c| n * 10 + digit_value(*c))
    };
    let year_len = group_len(chars, i);
    if year_len != 4 || !(1900..=2099).contains(&number(i, 4)) {
        return None;
    }
    let sep = *chars.get(i + 4)?;
    if !matches!(sep, '-' | '/' | '.' | '－' | '．') {
        return None;
    }
    let month_at = i + 5;
    let month_len = group_len(chars, month_at);
    if !(1..=2).contains(&month_len) || !(1..=12).contains(&number(month_at, month_len)) {
        return None;
    }
    if chars.get(month_at + month_len) != Some(&sep) {
        return None;
    }
    let day_at = month_at + month_len + 1;
    let day_len = group_len(chars, day_at);
    if !(1..=2).contains(&day_len) || !(1..=31).contains(&number(day_at, day_len)) {
        return None;
    }
    Some(day_at + day_len)
}

fn mask_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !is_digit(chars[i]) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // A date is no one's number.
        if let Some(end) = date_end(&chars, i) {
            out.extend(&chars[i..end]);
            i = end;
            continue;
        }
        let (mut j, mut end, mut digits, mut group) = (i, i, 0, 0);
        while j < chars.len() {
            let c = chars[j];
            if is_digit(c) {
                digits += 1;
                group += 1;
                j += 1;
                end = j;
                continue;
            }
            let next_is_digit = chars.get(j + 1).is_some_and(|n| is_digit(*n));
            let joins = next_is_digit
                && (is_joiner(c) || (is_dot(c) && group >= 3 && group_len(&chars, j + 1) >= 3));
            if !joins {
                break;
            }
            group = 0;
            j += 1;
        }
        // An ID card number may end in X.
        if digits >= 15 && chars.get(end).is_some_and(|c| matches!(c, 'X' | 'x')) {
            end += 1;
        }
        if digits >= MIN_DIGITS {
            out.push_str(MASK);
        } else {
            out.extend(&chars[i..end]);
        }
        i = end;
    }
    out
}

fn is_local(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')
}

fn is_domain(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-')
}

/// `example.com`, `mail.gov.cn`: labels that are not empty, the last one
/// beginning with two letters.
fn plausible_domain(domain: &[char]) -> bool {
    let text: String = domain.iter().collect();
    let labels: Vec<&str> = text.split('.').collect();
    labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
        && labels
            .last()
            .is_some_and(|l| l.chars().take(2).filter(char::is_ascii_alphabetic).count() == 2)
}

fn mask_emails(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, '@' | '＠') {
            let local = out.iter().rev().take_while(|c| is_local(**c)).count();
            let mut end = i + 1;
            while end < chars.len() && is_domain(chars[end]) {
                end += 1;
            }
            // A sentence's full stop after the address is not part of it.
            while end > i + 1 && matches!(chars[end - 1], '.' | '-') {
                end -= 1;
            }
            if local > 0 && plausible_domain(&chars[i + 1..end]) {
                out.truncate(out.len() - local);
                out.extend(MASK.chars());
                i = end;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_however_written() {
        let r = redact_public_text;
        assert_eq!(r("电话13812345678请回电"), "电话***请回电");
        assert_eq!(r("call 138-1234-5678 now"), "call *** now");
        assert_eq!(r("电话139.1234.5678。"), "电话***。");
        assert_eq!(r("电话139 1234 5678"), "电话***");
        assert_eq!(r("电话139-1234-5678，谢谢"), "电话***，谢谢");
        assert_eq!(r("电话１３９．１２３４．５６７８"), "电话***");
        assert_eq!(r("+86 139 1234 5678"), "+***");
        assert_eq!(r("固话0731-88886666"), "固话***");
        assert_eq!(r("身份证43010219900101123X"), "身份证***");
        assert_eq!(r("１３８１２３４５６７８"), "***");
    }

    #[test]
    fn short_numbers_and_dates_stay() {
        let r = redact_public_text;
        for keep in [
            "3号楼 2单元 502室",
            "2026年5月1日",
            "2026-05-01 14:30 到场",
            "2026.05.01",
            "2026/5/1",
            "赔偿12345.67元",
            "水位1.5米，3.25公里",
            "v1.2.3",
        ] {
            assert_eq!(r(keep), keep);
        }
        // Not a date: no month 13.
        assert_eq!(r("2026-13-01"), "***");
    }

    #[test]
    fn email_addresses() {
        let r = redact_public_text;
        assert_eq!(r("邮箱zhang.san@example.com联系"), "邮箱***联系");
        assert_eq!(r("mail a_b+c@mail.gov.cn."), "mail ***.");
        assert_eq!(r("13912345678@qq.com"), "***");
        assert_eq!(r("写信到 li＠163.com"), "写信到 ***");
        // Not addresses: no domain, no local part, a bare @mention.
        for keep in [
            "@张三 你好",
            "a@b",
            "user@localhost",
            "@example.com",
            "x@1.2",
        ] {
            assert_eq!(r(keep), keep);
        }
    }

    fn phone() -> impl Strategy<Value = String> {
        (
            "1[3-9][0-9]",
            "[0-9]{4}",
            "[0-9]{4}",
            prop::sample::select(vec!["", " ", "-", "."]),
        )
            .prop_map(|(a, b, c, sep)| format!("{a}{sep}{b}{sep}{c}"))
    }

    fn email() -> impl Strategy<Value = String> {
        (
            "[a-z0-9][a-z0-9._]{0,9}",
            "[a-z0-9]{1,8}",
            prop::sample::select(vec!["com", "cn", "org", "com.cn"]),
        )
            .prop_map(|(local, host, tld)| format!("{local}@{host}.{tld}"))
    }

    proptest! {
        #[test]
        fn phones_in_text_are_masked(
            before in "[\u{4e00}-\u{4e2f}，。 ]{0,6}",
            number in phone(),
            after in "[\u{4e00}-\u{4e2f}，。 ]{0,6}",
        ) {
            let out = redact_public_text(&format!("{before}{number}{after}"));
            prop_assert!(!out.chars().any(|c| c.is_ascii_digit()), "{out}");
            prop_assert!(out.contains(MASK));
        }

        #[test]
        fn emails_in_text_are_masked(
            before in "[\u{4e00}-\u{4e2f}，：]{0,6}",
            address in email(),
            after in "[\u{4e00}-\u{4e2f}，。]{0,6}",
        ) {
            let out = redact_public_text(&format!("{before}{address}{after}"));
            prop_assert_eq!(out, format!("{before}{MASK}{after}"));
        }

        #[test]
        fn masking_is_stable_and_leaves_no_long_run(text in "[0-9a-z@. \\-X\u{4e00}]{0,40}") {
            let once = redact_public_text(&text);
            prop_assert_eq!(redact_public_text(&once), once.clone());
            let longest = once
                .split(|c: char| !c.is_ascii_digit())
                .map(str::len)
                .max()
                .unwrap_or(0);
            prop_assert!(longest < MIN_DIGITS, "{once}");
        }

        #[test]
        fn text_without_digits_or_at_is_unchanged(text in "[^0-9０-９@＠]{0,40}") {
            prop_assert_eq!(redact_public_text(&text), text);
        }
    }
}
