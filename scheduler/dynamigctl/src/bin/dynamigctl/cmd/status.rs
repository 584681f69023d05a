//! `dynamigctl status`: GPUs, instances, placements, holders and their states, once (or, with
//! `--watch`, redrawn by [`super::watch`]).

use crate::render::{self, Form};
use crate::{print_json, with_node, Failure};

pub fn run(json: bool, wide: bool, watch: Option<f64>, count: Option<u64>) -> Result<(), Failure> {
    let form = if wide { Form::Wide } else { Form::Narrow };
    if let Some(every) = watch {
        return super::watch::run(every, count, json, form);
    }
    let st = with_node(|node| Ok(dynamig_node::status::status(node)))?;
    if json {
        print_json(&st)
    } else {
        println!("{}", render::status(&st, form));
        Ok(())
    }
}
