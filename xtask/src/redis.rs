//! The Redis model in `compare` and `sweep`: it runs when `counter-redis` can start a private `redis-server`
//! (one is on the `PATH`) or is given a server (`--redis URL`); otherwise its rows are skipped with one line, as
//! the Python rows are without `python3`.

use counter_core::{model::Model, output::eprint};

/// `models` without `redis` when it cannot run, saying so once.
pub fn runnable(models: &[Model], url: Option<&str>) -> Vec<Model> {
    let can_run = url.is_some() || on_path("redis-server");
    if models.contains(&Model::Redis) && !can_run {
        eprint(
            "xtask: no redis-server on the PATH and no --redis URL: the redis rows are skipped \
             (apt-get install redis-server)\n",
        );
    }
    models.iter().copied().filter(|&model| model != Model::Redis || can_run).collect()
}

/// The flags that point `counter-redis` at the server given, if one was.
pub fn flags(model: Model, url: Option<&str>) -> Vec<String> {
    match (model, url) {
        (Model::Redis, Some(url)) => vec!["--redis".to_owned(), url.to_owned()],
        _ => Vec::new(),
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
