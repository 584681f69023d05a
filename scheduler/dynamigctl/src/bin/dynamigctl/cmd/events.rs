//! `dynamigctl events`: allocations, preemptions, releases and errors, optionally `--since` a
//! time. Reads the events file without taking the node lock.

use crate::{bad_input, print_json, render, state_dir, Failure};

pub fn run(json: bool, since: Option<&str>) -> Result<(), Failure> {
    let dir = state_dir()?;
    let since_ms = match since {
        Some(s) => {
            dynamigctl::since::parse_since(s, dynamig_node::events::now_ms()).map_err(bad_input)?
        }
        None => 0,
    };
    let evs = dynamig_node::events::read(&dir.events_file(), since_ms);
    if json {
        print_json(&evs)
    } else {
        println!("{}", render::events(&evs));
        Ok(())
    }
}
