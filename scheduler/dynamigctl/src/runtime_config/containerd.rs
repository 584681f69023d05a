//! containerd's `config.toml`: the CRI runtime `dynamig` in the 1.x (`version = 2`) or 2.x
//! (`version = 3`) layout, edited with `toml_edit` so comments, order and every other setting
//! stay as they were.
//!
//! ```toml
//! version = 2   # containerd 1.x: plugins."io.containerd.grpc.v1.cri"
//! [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.dynamig]
//!   runtime_type = "io.containerd.dynamig.v2"
//!   pod_annotations = ["dynamig.io/*"]
//!
//! version = 3   # containerd 2.x: plugins."io.containerd.cri.v1.runtime"
//! [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.dynamig]
//!   runtime_type = "io.containerd.dynamig.v2"
//!   pod_annotations = ["dynamig.io/*"]
//! ```
//!
//! A file without a `version` key is the version 1 layout in containerd's terms. When it holds
//! no plugin settings (an empty file, or only top-level keys such as `root`), `version = 2` is
//! added; otherwise it is refused with what to do, since its plugin sections would mean
//! something else once a version is set.

use super::{Edit, POD_ANNOTATIONS, RUNTIME_NAME, SHIM_RUNTIME_TYPE};
use thiserror::Error;
use toml_edit::{Array, DocumentMut, Item, Table, TableLike, Value};

/// A containerd configuration layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `version = 2`: containerd 1.5 to 1.7 (2.x reads it too, migrating it in memory).
    V2,
    /// `version = 3`: containerd 2.x.
    V3,
}

impl Layout {
    /// The plugin whose `containerd.runtimes` table names CRI runtimes.
    fn cri_plugin(self) -> &'static str {
        match self {
            Layout::V2 => "io.containerd.grpc.v1.cri",
            Layout::V3 => "io.containerd.cri.v1.runtime",
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ContainerdError {
    #[error("the containerd config is not valid TOML: {0}")]
    Parse(String),
    #[error(
        "the containerd config has no `version` key, which containerd reads as the version 1 layout, \
         and it has a [plugins] section that dynamig cannot rewrite safely; add `version = 2` and \
         rename its plugin sections to their full ids (plugins.cri -> plugins.\"io.containerd.grpc.v1.cri\"), \
         or on containerd 2.x run `containerd config migrate`, then run this again"
    )]
    Version1,
    #[error(
        "the containerd config has no `version` key (version 1 layout) and {key} names {name:?}, \
         a short plugin name that the version 2 layout refuses; replace it with the full id \
         (e.g. \"cri\" -> \"io.containerd.grpc.v1.cri\") and add `version = 2`, then run this again"
    )]
    ShortPluginName { key: String, name: String },
    #[error(
        "the containerd config has `version = {0}`; dynamig writes version 2 (containerd 1.x) \
         and version 3 (containerd 2.x) configs"
    )]
    UnknownVersion(String),
    #[error(
        "`{0}` in the containerd config is not a table; fix or remove it, then run this again"
    )]
    NotATable(String),
    #[error("`{0}` in the containerd config is not an array of strings")]
    NotAnArray(String),
}

/// Adds (or completes) the dynamig runtime in containerd config `text`. With
/// `set_as_default`, also makes it the CRI default runtime (`default_runtime_name`).
pub fn edit(text: &str, set_as_default: bool) -> Result<Edit, ContainerdError> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| ContainerdError::Parse(one_line(text, &e)))?;
    let mut changes = Vec::new();
    let layout = layout(&mut doc, &mut changes)?;
    let plugin = layout.cri_plugin();
    let mut warnings = Vec::new();
    if disabled(&doc, plugin) || disabled(&doc, "cri") {
        warnings.push(format!(
            "disabled_plugins lists the CRI plugin ({plugin}): Kubernetes cannot use any runtime \
             until it is removed from disabled_plugins (ctr and nerdctl still can)"
        ));
    }
    let added = !runtime_exists(&doc, plugin);
    let (rt, path) = dynamig_runtime(&mut doc, plugin, set_as_default, &mut changes)?;
    if rt.get("runtime_type").and_then(Item::as_str) != Some(SHIM_RUNTIME_TYPE) {
        rt.insert("runtime_type", toml_edit::value(SHIM_RUNTIME_TYPE));
        changes.push(format!("set {path}.runtime_type = \"{SHIM_RUNTIME_TYPE}\""));
    }
    pod_annotations(rt, &path, &mut changes)?;
    drop_binary_name(rt, &path, &mut changes);
    if added {
        indent_like_siblings(&mut doc, plugin);
    }
    Ok(Edit {
        text: doc.to_string(),
        changes,
        warnings,
    })
}

/// The dynamig runtime's table under `plugin`'s `containerd.runtimes`, and its TOML path; the
/// tables on the way are made when missing. With `set_as_default`, names it the CRI default
/// runtime on the way.
fn dynamig_runtime<'a>(
    doc: &'a mut DocumentMut,
    plugin: &str,
    set_as_default: bool,
    changes: &mut Vec<String>,
) -> Result<(&'a mut dyn TableLike, String), ContainerdError> {
    let mut path = String::from("plugins");
    let plugins = child(doc.as_table_mut(), "plugins", &path, false)?;
    path.push_str(&format!(".\"{plugin}\""));
    let cri = child(plugins, plugin, &path, false)?;
    path.push_str(".containerd");
    let ctd = child(cri, "containerd", &path, false)?;
    if set_as_default
        && ctd.get("default_runtime_name").and_then(Item::as_str) != Some(RUNTIME_NAME)
    {
        ctd.insert("default_runtime_name", toml_edit::value(RUNTIME_NAME));
        changes.push(format!(
            "set {path}.default_runtime_name = \"{RUNTIME_NAME}\""
        ));
    }
    path.push_str(".runtimes");
    let runtimes = child(ctd, "runtimes", &path, false)?;
    path.push('.');
    path.push_str(RUNTIME_NAME);
    if runtimes.get(RUNTIME_NAME).is_none() {
        changes.push(format!("added [{path}]"));
    }
    let rt = child(runtimes, RUNTIME_NAME, &path, true)?;
    Ok((rt, path))
}

/// The `runtimes` table under `plugin`, when the file has one.
fn runtimes<'a>(doc: &'a mut DocumentMut, plugin: &str) -> Option<&'a mut Table> {
    doc.get_mut("plugins")?
        .get_mut(plugin)?
        .get_mut("containerd")?
        .get_mut("runtimes")?
        .as_table_mut()
}

/// Whether the file already has a dynamig runtime under `plugin`.
fn runtime_exists(doc: &DocumentMut, plugin: &str) -> bool {
    doc.get("plugins")
        .and_then(|p| p.get(plugin))
        .and_then(|c| c.get("containerd"))
        .and_then(|c| c.get("runtimes"))
        .is_some_and(|r| r.get(RUNTIME_NAME).is_some())
}

/// The whitespace that starts the last line of a decor prefix: a table header's or a key's
/// indentation.
fn indent(prefix: Option<&toml_edit::RawString>) -> String {
    let p = prefix.and_then(toml_edit::RawString::as_str).unwrap_or("");
    let last = p.rsplit('\n').next().unwrap_or("");
    last.chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect()
}

/// A dynamig table just added is indented as the other runtimes are (`config default` indents
/// each level by two spaces): unindented, it would read as part of whatever indented table
/// follows it.
fn indent_like_siblings(doc: &mut DocumentMut, plugin: &str) {
    let Some(runtimes) = runtimes(doc, plugin) else {
        return;
    };
    let sibling = runtimes
        .iter()
        .filter(|(k, _)| *k != RUNTIME_NAME)
        .find_map(|(k, v)| v.as_table().map(|t| (k.to_string(), t)));
    let Some((_, sib)) = sibling else {
        return;
    };
    let header = indent(sib.decor().prefix());
    let keys = sib
        .iter()
        .find(|(_, v)| v.is_value())
        .and_then(|(k, _)| sib.key(k))
        .map(|k| indent(k.leaf_decor().prefix()))
        .unwrap_or_default();
    if header.is_empty() && keys.is_empty() {
        return;
    }
    let Some(rt) = runtimes.get_mut(RUNTIME_NAME).and_then(Item::as_table_mut) else {
        return;
    };
    rt.decor_mut().set_prefix(format!("\n{header}"));
    let names: Vec<String> = rt.iter().map(|(k, _)| k.to_string()).collect();
    for k in names {
        if let Some(mut key) = rt.key_mut(&k) {
            key.leaf_decor_mut().set_prefix(keys.clone());
        }
    }
}

/// `pod_annotations` holds `dynamig.io/*`, so the shim sees the pod's dynamig annotations.
fn pod_annotations(
    rt: &mut dyn TableLike,
    path: &str,
    changes: &mut Vec<String>,
) -> Result<(), ContainerdError> {
    let ann_path = format!("{path}.pod_annotations");
    match rt.get_mut("pod_annotations") {
        None => {
            let mut a = Array::new();
            a.push(POD_ANNOTATIONS);
            rt.insert("pod_annotations", toml_edit::value(a));
            changes.push(format!("set {ann_path} = [\"{POD_ANNOTATIONS}\"]"));
        }
        Some(item) => {
            let a = item
                .as_array_mut()
                .ok_or_else(|| ContainerdError::NotAnArray(ann_path.clone()))?;
            if !a.iter().any(|v| v.as_str() == Some(POD_ANNOTATIONS)) {
                a.push(POD_ANNOTATIONS);
                changes.push(format!("added \"{POD_ANNOTATIONS}\" to {ann_path}"));
            }
        }
    }
    Ok(())
}

/// runc options' BinaryName would make the runc shim run that binary instead of looking up
/// `runc` on the PATH that containerd-shim-dynamig-v2 prepared: removed.
fn drop_binary_name(rt: &mut dyn TableLike, path: &str, changes: &mut Vec<String>) {
    if let Some(opts) = rt.get_mut("options").and_then(Item::as_table_like_mut) {
        if opts
            .get("BinaryName")
            .and_then(Item::as_str)
            .is_some_and(|b| !b.is_empty())
        {
            opts.remove("BinaryName");
            changes.push(format!(
                "removed {path}.options.BinaryName (it bypasses the dynamig shim)"
            ));
        }
    }
}

/// The file's layout; adds `version = 2` to a version-less file that holds no plugin settings.
fn layout(doc: &mut DocumentMut, changes: &mut Vec<String>) -> Result<Layout, ContainerdError> {
    match doc.get("version") {
        Some(v) => match v.as_integer() {
            Some(2) => Ok(Layout::V2),
            Some(3) => Ok(Layout::V3),
            _ => Err(ContainerdError::UnknownVersion(
                v.to_string().trim().to_string(),
            )),
        },
        None => {
            if doc.contains_key("plugins") {
                return Err(ContainerdError::Version1);
            }
            for key in ["disabled_plugins", "required_plugins"] {
                if let Some(a) = doc.get(key).and_then(Item::as_array) {
                    if let Some(short) = a
                        .iter()
                        .filter_map(Value::as_str)
                        .find(|n| n.split('.').count() < 4)
                    {
                        return Err(ContainerdError::ShortPluginName {
                            key: key.to_string(),
                            name: short.to_string(),
                        });
                    }
                }
            }
            doc.insert("version", toml_edit::value(2));
            // `version` first (a stable sort: the other keys keep their order).
            doc.as_table_mut()
                .sort_values_by(|a, _, b, _| (a.get() != "version").cmp(&(b.get() != "version")));
            changes.push("set version = 2 (the containerd 1.x layout, which 2.x reads too)".into());
            Ok(Layout::V2)
        }
    }
}

/// A TOML error as one line: `line L, column C: message`.
fn one_line(text: &str, e: &toml_edit::TomlError) -> String {
    let msg = e.message().trim().replace('\n', "; ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {col}: {msg}")
        }
        None => msg,
    }
}

/// Whether top-level `disabled_plugins` names `plugin`.
fn disabled(doc: &DocumentMut, plugin: &str) -> bool {
    doc.get("disabled_plugins")
        .and_then(Item::as_array)
        .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(plugin)))
}

/// `parent[key]` as a table, created when missing (implicit unless `explicit`: an implicit
/// table gets no header of its own).
fn child<'a>(
    parent: &'a mut dyn TableLike,
    key: &str,
    path: &str,
    explicit: bool,
) -> Result<&'a mut dyn TableLike, ContainerdError> {
    if parent.get(key).is_none() {
        let mut t = Table::new();
        t.set_implicit(!explicit);
        if explicit {
            t.decor_mut().set_prefix("\n");
        }
        parent.insert(key, Item::Table(t));
    }
    parent
        .get_mut(key)
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| ContainerdError::NotATable(path.to_string()))
}
