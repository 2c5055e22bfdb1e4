//! Deadline rules as packs declare them: an amount of calendar days, working
//! days or working hours.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationUnit {
    CalendarDays,
    WorkingDays,
    WorkingHours,
}

impl DurationUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            DurationUnit::CalendarDays => "calendar_days",
            DurationUnit::WorkingDays => "working_days",
            DurationUnit::WorkingHours => "working_hours",
        }
    }

    pub fn parse(text: &str) -> Option<DurationUnit> {
        match text {
            "calendar_days" => Some(DurationUnit::CalendarDays),
            "working_days" => Some(DurationUnit::WorkingDays),
            "working_hours" => Some(DurationUnit::WorkingHours),
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
