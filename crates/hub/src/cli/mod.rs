//! The hub's commands besides serving: `hub check-actions FILE...` (check write-back actions
//! files without starting the server) and `hub generate-actions` (their terraform table schemas,
//! LookML and deployable copy). Both call the core library; this module reads the arguments and
//! writes the files.

mod check;
mod generate;

/// The exit code of the command `args` names (its name first), or `None` when `args` names no
/// command (the hub serves).
pub fn run(args: &[String]) -> Option<i32> {
    let (command, rest) = args.split_first()?;
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    match command.as_str() {
        "check-actions" => Some(check::check_actions(rest, &mut out, &mut err)),
        "generate-actions" => Some(generate::generate_actions(rest, &mut out, &mut err)),
        _ => None,
    }
}
