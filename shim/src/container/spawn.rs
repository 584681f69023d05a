//! Starting a container process through runc (`runc create` for the init, `runc exec` for an
//! exec) with its stdio: pipes copied to and from containerd's FIFOs, or a terminal through a
//! console socket.

use crate::error::Result;
use crate::io::{ConsoleSocket, Copying, Piped, StdioNames};
use crate::process::Process;
use crate::runc::{ProcessStdio, Runc};

/// Runs `runc create`/`runc exec` (`args` without the id) for process `p` with its stdio.
pub fn start_process<'a>(
    runc: &Runc,
    args: &mut Vec<&'a str>,
    id: &'a str,
    stdio: &StdioNames,
    p: &Process,
) -> Result<()> {
    if stdio.terminal {
        let socket = ConsoleSocket::new()?;
        let path = socket.path().to_string_lossy().into_owned();
        let mut a: Vec<&str> = args.clone();
        a.push("--console-socket");
        a.push(&path);
        a.push(id);
        runc.run_with_stdio(&a, ProcessStdio::default())?;
        let master = socket.receive()?;
        let copying = Copying::terminal(master, stdio)?;
        *p.io.lock().unwrap_or_else(|e| e.into_inner()) = Some(copying);
        return Ok(());
    }
    let mut piped = Piped::new(stdio)?;
    args.push(id);
    runc.run_with_stdio(args, std::mem::take(&mut piped.runc))?;
    *p.io.lock().unwrap_or_else(|e| e.into_inner()) = Some(piped.start());
    Ok(())
}
