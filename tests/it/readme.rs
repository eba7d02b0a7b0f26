//! The README's command examples, run against the real binaries: every ```` ```console ```` block of the README
//! is a test (trycmd), with `[..]` where a figure changes from run to run and `...` for lines left out, so that
//! what the README shows is what the binaries print.

use std::path::Path;

use counter_core::model::Model;

#[test]
fn the_readme_s_console_examples_print_what_it_shows() {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let cases = trycmd::TestCases::new();
    for model in Model::ALL {
        cases.register_bin(model.binary(), tests::binary(model.binary()));
    }
    cases.case(readme);
}
