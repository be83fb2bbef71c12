//! What a check says ([`Says`]: a problem, and advice when there is some) and the proof that it
//! said it ([`Reported`]): the syntax walker and the checks return that proof instead of counting
//! problems, and gather the proofs of the parts of what they build ([`Verdict`], [`Checked`]).

/// How a problem's help follows its message on one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Joint {
    /// `message: help`.
    #[default]
    Colon,
    /// `message; help` (the message reads on into its advice).
    Semicolon,
}

impl Joint {
    /// What joins the message and the help on one line.
    pub fn text(self) -> &'static str {
        match self {
            Joint::Colon => ": ",
            Joint::Semicolon => "; ",
        }
    }
}

/// Proof that a problem was reported: made only where a problem is recorded (the syntax walker's
/// and the checks' `at`). A check that gives no value (or a value that is not sound) returns it,
/// so a build's success is the value it returns, never a count of problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a check that reported a problem has failed: pass the proof on"]
pub(crate) struct Reported(());

impl Reported {
    /// The proof of a problem just recorded.
    pub(super) fn new() -> Reported {
        Reported(())
    }
}

/// What a check says: the problem, and what to write instead when there is advice.
#[derive(Debug)]
pub(crate) struct Says {
    pub message: String,
    pub help: Option<String>,
    pub joint: Joint,
}

impl std::fmt::Display for Says {
    /// The one-line form: `message: help` (or `message; help`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.help {
            Some(h) => write!(f, "{}{}{h}", self.message, self.joint.text()),
            None => f.write_str(&self.message),
        }
    }
}

impl From<String> for Says {
    fn from(message: String) -> Says {
        Says {
            message,
            help: None,
            joint: Joint::Colon,
        }
    }
}

impl From<&str> for Says {
    fn from(message: &str) -> Says {
        Says::from(message.to_string())
    }
}

/// A problem with advice (one line: `message: help`).
pub(crate) fn advice(message: impl Into<String>, help: impl Into<String>) -> Says {
    Says {
        message: message.into(),
        help: Some(help.into()),
        joint: Joint::Colon,
    }
}

/// A problem whose message reads on into its advice (one line: `message; help`).
pub(crate) fn advice_on(message: impl Into<String>, help: impl Into<String>) -> Says {
    Says {
        joint: Joint::Semicolon,
        ..advice(message, help)
    }
}

/// The problems a check reported so far: none, or the proof of one.
#[derive(Debug, Default, Clone, Copy)]
#[must_use = "a verdict with a problem is a failed check: pass it on"]
pub(crate) struct Verdict(Option<Reported>);

impl Verdict {
    /// Note a reported problem.
    pub fn add(&mut self, r: Reported) {
        self.0 = Some(r);
    }

    /// Note the outcome of a check that gives nothing.
    pub fn note(&mut self, r: Result<(), Reported>) {
        if let Err(r) = r {
            self.add(r);
        }
    }

    /// The value of a check that gives one whatever its problems, its problems noted.
    pub fn keep<T>(&mut self, c: Checked<T>) -> T {
        if let Err(r) = c.sound {
            self.add(r);
        }
        c.value
    }

    /// The value of a check that may give none, its problem noted.
    pub fn take<T>(&mut self, r: Result<T, Reported>) -> Option<T> {
        r.map_err(|r| self.add(r)).ok()
    }

    /// `value`, unless a problem was reported.
    pub fn then<T>(self, value: T) -> Result<T, Reported> {
        match self.0 {
            None => Ok(value),
            Some(r) => Err(r),
        }
    }

    /// `value` with this verdict.
    pub fn with<T>(self, value: T) -> Checked<T> {
        Checked {
            value,
            sound: self.then(()),
        }
    }
}

/// A value a check gives even when it reported a problem (a field with a problem is still a
/// field: later checks see it, and report nothing false about it), and whether it is sound.
#[must_use = "a checked value may carry a problem: keep it with Verdict::keep"]
pub(crate) struct Checked<T> {
    pub value: T,
    pub sound: Result<(), Reported>,
}

impl<T> Checked<T> {
    /// A value without a problem.
    pub fn sound(value: T) -> Checked<T> {
        Checked {
            value,
            sound: Ok(()),
        }
    }

    /// The value, with this reported problem.
    pub fn failed(self, r: Reported) -> Checked<T> {
        Checked {
            value: self.value,
            sound: Err(r),
        }
    }
}
