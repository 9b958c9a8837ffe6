//! A plan assigns a multiplication scheme to every conv and linear layer (mixed precision). The
//! golden engine, the hardware and the cost model all take the same plan. On disk it is JSON:
//!
//! ```json
//! {"model": "icebreaker-w0.5", "default": "lutna", "layers": {"features.7.0": "alutna"}}
//! ```
//!
//! `default` applies to every layer not named in `layers`; `model` is informational.

use crate::arith::Scheme;
use crate::model::Model;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub default: Scheme,
    #[serde(default)]
    pub layers: BTreeMap<String, Scheme>,
}

impl Plan {
    /// Every layer on one scheme.
    pub fn uniform(scheme: Scheme) -> Self {
        Plan {
            model: None,
            default: scheme,
            layers: BTreeMap::new(),
        }
    }

    /// `schemes` taken in turn by the model's conv and linear layers: a plan that puts every
    /// lane mode in one network, for tests and demonstrations.
    pub fn rotating(model: &Model, schemes: &[Scheme]) -> Self {
        let mut plan = Plan::uniform(Scheme::LUTNA);
        for (i, l) in model
            .layers
            .iter()
            .filter(|l| l.op.conv().is_some())
            .enumerate()
        {
            plan.layers
                .insert(l.name.clone(), schemes[i % schemes.len()]);
        }
        plan
    }

    pub fn load(path: &Path) -> Result<Plan> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read plan file {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a valid plan: expected JSON like \
                 {{\"default\": \"lutna\", \"layers\": {{\"<layer>\": \"alutna\"}}}}",
                path.display()
            )
        })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        crate::write_atomic(path, serde_json::to_string_pretty(self)?.as_bytes())
    }

    /// The scheme of each layer of `model` (None for layers that do not multiply). Fails when the
    /// plan names a layer the model does not have, or a layer that does not multiply.
    pub fn resolve(&self, model: &Model) -> Result<Vec<Option<Scheme>>> {
        for name in self.layers.keys() {
            match model.layers.iter().find(|l| &l.name == name) {
                None => bail!(
                    "the plan names layer '{name}', which model '{}' does not have \
                     (`lutna info --model ...` lists the layers)",
                    model.name
                ),
                Some(l) if l.op.conv().is_none() => bail!(
                    "the plan gives a scheme to layer '{name}', a {} layer without multiplications",
                    l.op.kind_name()
                ),
                _ => {}
            }
        }
        Ok(model
            .layers
            .iter()
            .map(|l| {
                l.op.conv()
                    .map(|_| *self.layers.get(&l.name).unwrap_or(&self.default))
            })
            .collect())
    }

    /// A short label: the scheme name for a uniform plan, "mixed" otherwise.
    pub fn label(&self, model: &Model) -> String {
        match self.resolve(model) {
            Ok(s) => {
                let used: std::collections::HashSet<Scheme> = s.into_iter().flatten().collect();
                if used.len() == 1 {
                    used.into_iter().next().unwrap().to_string()
                } else {
                    "mixed".into()
                }
            }
            Err(_) => "invalid".into(),
        }
    }
}
