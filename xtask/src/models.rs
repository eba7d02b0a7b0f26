//! The models a task runs, as the command line asks for them: which (`--models`), on which servers
//! (`--server MODEL=URL`), and which of them can run here. What the tools know of each model is its
//! `Description` in `counter_core::catalog`; nothing here names one.

pub use counter_core::catalog::of;
use counter_core::model::Model;

use crate::usage::Usage;

/// Servers given on the command line, for the models that keep their counter in one; without one, a model's
/// rows run on a private server (one for all of them where its binary serves one, `serve_flag`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServerArgs {
    /// A server for one model's rows instead of a private one, as MODEL=URL (the URL as the model's binary takes
    /// it); once per model
    #[arg(long = "server", value_name = "MODEL=URL")]
    given: Vec<String>,
}

impl ServerArgs {
    /// These, with `url` as `model`'s server.
    pub fn with(mut self, model: Model, url: &str) -> ServerArgs {
        self.given.retain(|given| model_of(given) != Some(Ok(model)));
        self.given.push(format!("{}={url}", model.name()));
        self
    }

    /// The server given for `model`, if one was.
    pub fn url(&self, model: Model) -> Option<&str> {
        self.given
            .iter()
            .find(|given| model_of(given) == Some(Ok(model)))
            .and_then(|given| given.split_once('='))
            .map(|(_, url)| url)
    }

    /// Every `--server` names a model with a server, once: else what is wrong, never showing a URL (it may hold
    /// a password).
    pub fn check(&self) -> Result<(), Usage> {
        let with_servers: Vec<&str> =
            Model::ALL.iter().filter(|&&model| of(model).server.is_some()).map(|model| model.name()).collect();
        let mut seen = Vec::new();
        for given in &self.given {
            let name = match model_of(given) {
                Some(Ok(model)) if of(model).server.is_some() => {
                    if seen.contains(&model) {
                        return Err(Usage(format!("--server {}=...: given twice; once per model", model.name())));
                    }
                    seen.push(model);
                    continue;
                }
                Some(Ok(model)) => model.name().to_owned(),
                // A word is shown; anything else may be part of a URL, and a password with it.
                Some(Err(name)) if name.len() <= 20 && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') => {
                    name
                }
                Some(Err(name)) => format!("<{} characters, not shown>", name.chars().count()),
                None => format!("<{} characters without '=', not shown>", given.chars().count()),
            };
            return Err(Usage(format!(
                "invalid --server '{name}=...': MODEL=URL is expected, MODEL one of {}",
                with_servers.join(", ")
            )));
        }
        Ok(())
    }

    /// Whether `model` can run here, or the one line that says why not.
    pub fn available(&self, model: Model) -> Result<(), String> {
        of(model).available(self.url(model))
    }

    /// The flags every run of `model` gets: the server given for it, if any.
    pub fn flags(&self, model: Model) -> Vec<String> {
        of(model).server_flags(self.url(model))
    }
}

/// The model a `MODEL=URL` names: `None` without `=`, `Err` with a name that is no model's.
fn model_of(given: &str) -> Option<Result<Model, String>> {
    let (name, _) = given.split_once('=')?;
    Some(Model::ALL.into_iter().find(|model| model.name() == name).ok_or_else(|| name.to_owned()))
}

/// The models asked for, or every model when none was named.
pub fn asked(models: &[Model]) -> Vec<Model> {
    if models.is_empty() { Model::ALL.to_vec() } else { models.to_vec() }
}

/// `args` fit to record: the value of every flag that names a server (it may hold a password, in any shape)
/// replaced by [`counter_core::secrets::NOT_SHOWN`].
pub fn conceal_servers(args: &[String]) -> Vec<String> {
    let flags: Vec<&str> = counter_core::catalog::server_flags().chain(["--server"]).collect();
    counter_core::secrets::conceal_values(args, &flags)
}

/// `models` less those that cannot run here, each of those said in one line; an error if a server given is
/// no model's.
pub fn runnable(models: &[Model], servers: &ServerArgs) -> Result<Vec<Model>, Usage> {
    servers.check()?;
    Ok(models
        .iter()
        .copied()
        .filter(|&model| match servers.available(model) {
            Ok(()) => true,
            Err(why) => {
                crate::output::note(&format!("xtask: {why}"));
                false
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_given_per_model_and_checked_without_showing_a_url() {
        let servers = |given: &[&str]| ServerArgs { given: given.iter().map(|&s| s.to_owned()).collect() };
        let with_server: Vec<Model> = Model::ALL.into_iter().filter(|&model| of(model).server.is_some()).collect();
        for &model in &with_server {
            let url = "store://user:Secret%20pw@127.0.0.1:1";
            let given = servers(&[&format!("{}={url}", model.name())]);
            assert!(given.check().is_ok());
            assert_eq!(given.url(model), Some(url));
            assert!(given.available(model).is_ok());
            assert_eq!(given.flags(model)[1], url);
            let twice = servers(&[&format!("{}=a", model.name()), &format!("{}=b", model.name())]);
            assert!(twice.check().unwrap_err().0.contains("twice"));
            assert_eq!(ServerArgs::default().with(model, "x").with(model, "y").url(model), Some("y"));
        }
        for bad in ["nobody=store://u:Secret@h", "store://u:Secret@h", "threads=store://u:Secret@h", "u:Secret@h?db=1"]
        {
            let message = servers(&[bad]).check().unwrap_err().0;
            assert!(message.contains("MODEL=URL") && !message.contains("Secret"), "{message}");
        }
    }
}
