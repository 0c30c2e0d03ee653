//! Which parameters a regularizer acts on: the parameter walk of [`sparsekit_tensor::params`]
//! (paths, 2-D views, attached or detached values), selected with a [`Selector`] (whose
//! pattern syntax is documented in `sparsekit_formats::selector`).
//!
//! A parameter's *path* is the chain of field names (and `Vec`/array indices) that leads to it,
//! joined by `.`, as burn's `ModuleVisitor::enter_module` reports them: `l1.weight`,
//! `blocks.0.linear.bias`, `g1.log_alpha`.

use crate::error::{RegError, Result};
pub use sparsekit_formats::Selector;
pub use sparsekit_tensor::params::{collect_params, ParamEntry};

/// The selected entries; `Err(NoMatch)` when none is selected, `Err(NoParameters)` when there are
/// no parameters at all.
pub(crate) fn select<'a>(params: &'a [ParamEntry], sel: &Selector) -> Result<Vec<&'a ParamEntry>> {
    if params.is_empty() {
        return Err(RegError::NoParameters);
    }
    let v: Vec<&ParamEntry> = params.iter().filter(|p| sel.matches(&p.path)).collect();
    if v.is_empty() {
        Err(RegError::NoMatch(sel.pattern().to_string()))
    } else {
        Ok(v)
    }
}
