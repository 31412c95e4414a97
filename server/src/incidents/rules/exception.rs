//! The three exceptions of 45 CFR 164.402(1) to the definition of a breach,
//! each as the facts the privacy officer must affirm one by one, and the
//! particulars the record must name. Pure.
//!
//! Invariants:
//! - A decision "exception" names exactly one clause and affirms every fact
//!   that clause requires, and no fact of another clause: an exception
//!   missing one of its conditions is not an exception (it is a breach or
//!   needs the four-factor assessment), and the burden of proof is the
//!   practice's (164.414).
//! - The particulars (who acted, who received it, why it could not be kept)
//!   are the staff's own words inside the practice's record: they go into
//!   the report and never into a webhook or an audit detail.
//! - Any other decision carries no exception: changing the decision away
//!   from an exception clears it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The most the particulars may hold, in bytes.
pub const MAX_PARTICULARS: usize = 4_000;

/// Which exception of 164.402(1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Clause {
    /// (i) An unintentional acquisition, access or use by a workforce member.
    UnintentionalUse,
    /// (ii) An inadvertent disclosure between people authorized at the
    /// practice.
    InadvertentDisclosure,
    /// (iii) The recipient could not reasonably have retained it.
    UnableToRetain,
}

/// One fact an exception rests on, affirmed by the privacy officer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fact {
    /// (i) A workforce member or a person acting under the practice's
    /// authority.
    WorkforceMember,
    /// (i) Unintentional, in good faith.
    GoodFaith,
    /// (i) Within the scope of their authority.
    WithinScope,
    /// (ii) The one who disclosed it is authorized to access PHI at the
    /// practice.
    AuthorizedDiscloser,
    /// (ii) The one who received it is authorized at the same covered
    /// entity, business associate or organized health care arrangement.
    AuthorizedRecipient,
    /// (ii) Inadvertent.
    Inadvertent,
    /// (i), (ii) Not further used or disclosed in a way the Privacy Rule
    /// does not permit.
    NotFurtherDisclosed,
    /// (iii) A good-faith belief that the recipient could not reasonably
    /// have retained it.
    CouldNotRetain,
}

impl Clause {
    /// Every clause, in the regulation's order.
    pub const ALL: [Clause; 3] = [
        Clause::UnintentionalUse,
        Clause::InadvertentDisclosure,
        Clause::UnableToRetain,
    ];

    /// The stored and answered code.
    pub fn code(self) -> &'static str {
        match self {
            Clause::UnintentionalUse => "unintentional_use",
            Clause::InadvertentDisclosure => "inadvertent_disclosure",
            Clause::UnableToRetain => "unable_to_retain",
        }
    }

    /// Its citation.
    pub fn citation(self) -> &'static str {
        match self {
            Clause::UnintentionalUse => "164.402(1)(i)",
            Clause::InadvertentDisclosure => "164.402(1)(ii)",
            Clause::UnableToRetain => "164.402(1)(iii)",
        }
    }

    /// Its heading.
    pub fn title(self) -> &'static str {
        match self {
            Clause::UnintentionalUse => {
                "An unintentional acquisition, access or use by a member of the workforce"
            }
            Clause::InadvertentDisclosure => {
                "An inadvertent disclosure between people authorized at the practice"
            }
            Clause::UnableToRetain => "The person could not reasonably have retained it",
        }
    }

    /// The facts it requires, all of them.
    pub fn requires(self) -> &'static [Fact] {
        match self {
            Clause::UnintentionalUse => &[
                Fact::WorkforceMember,
                Fact::GoodFaith,
                Fact::WithinScope,
                Fact::NotFurtherDisclosed,
            ],
            Clause::InadvertentDisclosure => &[
                Fact::AuthorizedDiscloser,
                Fact::AuthorizedRecipient,
                Fact::Inadvertent,
                Fact::NotFurtherDisclosed,
            ],
            Clause::UnableToRetain => &[Fact::CouldNotRetain],
        }
    }

    /// What the particulars must name.
    pub fn particulars(self) -> &'static str {
        match self {
            Clause::UnintentionalUse => {
                "Who acquired, accessed or used it, in what role, and how it is known that it \
                 went no further"
            }
            Clause::InadvertentDisclosure => {
                "Who disclosed it, who received it, how both are authorized at the practice, \
                 and how it is known that it went no further"
            }
            Clause::UnableToRetain => {
                "Why the person could not reasonably have retained it (for example: the \
                 message was withdrawn before it was opened)"
            }
        }
    }
}

impl Fact {
    /// The statement the privacy officer affirms.
    pub fn statement(self) -> &'static str {
        match self {
            Fact::WorkforceMember => {
                "The person was a member of the practice's workforce or acted under its authority."
            }
            Fact::GoodFaith => {
                "The acquisition, access or use was unintentional and made in good faith."
            }
            Fact::WithinScope => "It was within the scope of that person's authority.",
            Fact::AuthorizedDiscloser => {
                "The person who disclosed it is authorized to access PHI at the practice."
            }
            Fact::AuthorizedRecipient => {
                "The person who received it is authorized to access PHI at the same covered \
                 entity, business associate or organized health care arrangement."
            }
            Fact::Inadvertent => "The disclosure was inadvertent.",
            Fact::NotFurtherDisclosed => {
                "The information was not further used or disclosed in a way the Privacy Rule \
                 does not permit."
            }
            Fact::CouldNotRetain => {
                "The practice believes in good faith that the person who received it could not \
                 reasonably have retained it."
            }
        }
    }
}

/// An exception as given with a decision, and as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    /// Which exception.
    pub clause: Clause,
    /// The facts affirmed: every one the clause requires.
    pub affirmed: Vec<Fact>,
    /// The particulars the clause asks for (at most 4,000 bytes).
    pub particulars: String,
}

/// Why an exception is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExceptionError {
    /// A required fact is not affirmed.
    #[error("{citation} also requires: {statement}")]
    Unaffirmed {
        /// The clause's citation.
        citation: &'static str,
        /// The missing fact's statement.
        statement: &'static str,
    },
    /// A fact of another clause.
    #[error("{citation} does not rest on: {statement}")]
    Foreign {
        /// The clause's citation.
        citation: &'static str,
        /// The foreign fact's statement.
        statement: &'static str,
    },
    /// The particulars are missing or too long.
    #[error("{0}")]
    Particulars(&'static str),
    /// The decision "exception" without its facts.
    #[error("an exception names its clause of 164.402(1) and affirms each of its facts")]
    Required,
    /// Facts of an exception with another decision.
    #[error("only the decision \"exception\" carries an exception's facts")]
    NotAnException,
}

/// Checks an exception as given: one clause, each of its facts affirmed,
/// nothing else, the particulars written. Returns it in the stored form
/// (facts in the clause's order, once each).
pub fn check(e: Exception) -> Result<Exception, ExceptionError> {
    let required = e.clause.requires();
    if let Some(f) = e.affirmed.iter().find(|f| !required.contains(f)) {
        return Err(ExceptionError::Foreign {
            citation: e.clause.citation(),
            statement: f.statement(),
        });
    }
    if let Some(f) = required.iter().find(|f| !e.affirmed.contains(f)) {
        return Err(ExceptionError::Unaffirmed {
            citation: e.clause.citation(),
            statement: f.statement(),
        });
    }
    let particulars = e.particulars.trim();
    if particulars.is_empty() {
        return Err(ExceptionError::Particulars(
            "an exception needs its particulars (who, to whom, how it is known)",
        ));
    }
    if particulars.len() > MAX_PARTICULARS {
        return Err(ExceptionError::Particulars(
            "particulars: at most 4,000 bytes",
        ));
    }
    Ok(Exception {
        clause: e.clause,
        affirmed: required.to_vec(),
        particulars: particulars.to_owned(),
    })
}

/// One clause as the browser lays out its choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ClauseView {
    /// Which.
    pub clause: Clause,
    /// Its citation.
    pub citation: &'static str,
    /// Its heading.
    pub title: &'static str,
    /// The facts to affirm, with their statements.
    pub facts: Vec<FactView>,
    /// What the particulars must name.
    pub particulars: &'static str,
}

/// One fact to affirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FactView {
    /// Which.
    pub fact: Fact,
    /// What is affirmed.
    pub statement: &'static str,
}

/// The three clauses with their facts (the choice the decision form shows).
pub fn choices() -> Vec<ClauseView> {
    Clause::ALL
        .iter()
        .map(|c| ClauseView {
            clause: *c,
            citation: c.citation(),
            title: c.title(),
            facts: c
                .requires()
                .iter()
                .map(|f| FactView {
                    fact: *f,
                    statement: f.statement(),
                })
                .collect(),
            particulars: c.particulars(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(clause: Clause, affirmed: &[Fact]) -> Exception {
        Exception {
            clause,
            affirmed: affirmed.to_vec(),
            particulars: "  The front desk opened the wrong chart and closed it.  ".into(),
        }
    }

    #[test]
    fn each_clause_stands_with_all_of_its_facts_and_its_particulars() {
        for c in Clause::ALL {
            let mut facts = c.requires().to_vec();
            facts.reverse();
            facts.push(facts[0]);
            let e = check(given(c, &facts)).unwrap();
            assert_eq!(e.affirmed, c.requires(), "stored once each, in order");
            assert_eq!(
                e.particulars,
                "The front desk opened the wrong chart and closed it."
            );
        }
    }

    #[test]
    fn a_missing_fact_is_named_and_refuses_the_exception() {
        let err = check(given(
            Clause::UnintentionalUse,
            &[Fact::WorkforceMember, Fact::GoodFaith, Fact::WithinScope],
        ))
        .unwrap_err();
        assert_eq!(
            err,
            ExceptionError::Unaffirmed {
                citation: "164.402(1)(i)",
                statement: Fact::NotFurtherDisclosed.statement(),
            }
        );
        assert!(err
            .to_string()
            .starts_with("164.402(1)(i) also requires: The information"));
        assert!(check(given(Clause::UnableToRetain, &[])).is_err());
    }

    #[test]
    fn a_fact_of_another_clause_does_not_make_up_for_one_of_its_own() {
        let err = check(given(
            Clause::InadvertentDisclosure,
            &[
                Fact::AuthorizedDiscloser,
                Fact::GoodFaith,
                Fact::Inadvertent,
                Fact::NotFurtherDisclosed,
            ],
        ))
        .unwrap_err();
        assert!(matches!(
            err,
            ExceptionError::Foreign {
                citation: "164.402(1)(ii)",
                ..
            }
        ));
    }

    #[test]
    fn particulars_are_required_and_bounded() {
        let blank = Exception {
            particulars: " \n ".into(),
            ..given(Clause::UnableToRetain, &[Fact::CouldNotRetain])
        };
        assert!(matches!(check(blank), Err(ExceptionError::Particulars(_))));
        let long = Exception {
            particulars: "x".repeat(MAX_PARTICULARS + 1),
            ..given(Clause::UnableToRetain, &[Fact::CouldNotRetain])
        };
        assert!(matches!(check(long), Err(ExceptionError::Particulars(_))));
    }

    #[test]
    fn the_choices_list_every_clause_with_the_facts_it_requires() {
        let c = choices();
        assert_eq!(c.len(), 3);
        assert_eq!(c[2].citation, "164.402(1)(iii)");
        assert_eq!(c[0].facts.len(), 4);
        assert!(c
            .iter()
            .all(|v| v.facts.iter().all(|f| f.statement.ends_with('.'))));
        let json = serde_json::to_value(&c[1]).unwrap();
        assert_eq!(json["clause"], "inadvertent_disclosure");
        assert_eq!(json["facts"][1]["fact"], "authorized_recipient");
    }
}
