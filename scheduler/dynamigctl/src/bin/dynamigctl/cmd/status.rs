//! `dynamigctl status`: GPUs, instances, placements, holders and their states, once (or, with
//! `--watch`, redrawn by [`super::watch`]).

use crate::{open_node, print_json, render, Failure};

pub fn run(json: bool, watch: Option<f64>, count: Option<u64>) -> Result<(), Failure> {
    if let Some(every) = watch {
        return super::watch::run(every, count, json);
    }
    let st = dynamig_node::status::status(&open_node()?);
    if json {
        print_json(&st)
    } else {
        println!("{}", render::status(&st));
        Ok(())
    }
}
