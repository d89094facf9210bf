//! The expansion of `#[anyio::test]`.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{ToTokens, quote};
use syn::{Attribute, ItemFn};

use crate::args::{self, Backend, Errors, RuntimeOptions, TestArgs};
use crate::function::{self, Kind};

/// Attributes that only mean something on a `#[test]` function: they move
/// from the async function to the generated tests.
const HARNESS_ATTRIBUTES: [&str; 2] = ["should_panic", "ignore"];

/// Where one of the user's outer attributes goes in the expansion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placement {
    /// On the async function only (`#[expect(...)]`: it would be unfulfilled
    /// on the generated tests).
    AsyncFn,
    /// On the generated tests only (`#[should_panic]`, `#[ignore]`).
    Tests,
    /// On the async function and on the generated module, which carries it
    /// to the tests (`#[cfg(...)]`: the module refers to the function).
    AsyncFnAndModule,
    /// On the async function and on every generated test (doc comments,
    /// lint levels, anything else).
    Everywhere,
}

/// Where `attr` goes.
fn placement(attr: &Attribute) -> Placement {
    if HARNESS_ATTRIBUTES
        .iter()
        .any(|name| function::is_named(attr, name))
    {
        Placement::Tests
    } else if function::is_named(attr, "cfg") {
        Placement::AsyncFnAndModule
    } else if function::is_named(attr, "expect") {
        Placement::AsyncFn
    } else {
        Placement::Everywhere
    }
}

/// Expands `#[anyio::test(attr)] item`.
///
/// On any error the `compile_error!`s come out next to the user's function,
/// unchanged, and no test is generated.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(error) => {
            let mut out = error.to_compile_error();
            out.extend(item);
            return out;
        }
    };
    let mut errors = Errors::default();
    let args = args::parse_test_args(attr).map_err(|error| errors.push(error));
    let check = function::check_signature(&function.sig, Kind::Test);
    if let Err(error) = check.errors.finish() {
        errors.push(error);
    }
    for attr in function::outer_attrs(&function.attrs) {
        if function::is_named(attr, "test") {
            errors.push(syn::Error::new_spanned(
                attr,
                "remove this `#[test]`: #[anyio::test] generates the `#[test]` functions itself",
            ));
        }
    }
    match (errors.finish(), args) {
        (Ok(()), Ok(args)) => generate(function, &args),
        (Err(error), _) => {
            // The function comes out as written, less any `#[test]` (already
            // reported, and rustc would add that tests cannot be async).
            let mut function = function;
            function
                .attrs
                .retain(|attr| !function::is_named(attr, "test"));
            let mut out = error.to_compile_error();
            out.extend(quote!(#[allow(dead_code)]));
            out.extend(function.into_token_stream());
            out
        }
        (Ok(()), Err(())) => unreachable!("an argument error is recorded in `errors`"),
    }
}

/// The async function, kept, and the module of per-backend tests.
fn generate(mut function: ItemFn, args: &TestArgs) -> TokenStream {
    let name = function.sig.ident.clone();
    let output = function.sig.output.clone();
    let mut test_attrs = Vec::new();
    let mut module_attrs = Vec::new();
    let mut kept = Vec::new();
    for attr in function.attrs.drain(..) {
        if !matches!(attr.style, syn::AttrStyle::Outer) {
            kept.push(attr);
            continue;
        }
        match placement(&attr) {
            Placement::AsyncFn => kept.push(attr),
            Placement::Tests => test_attrs.push(attr),
            Placement::AsyncFnAndModule => {
                module_attrs.push(attr.clone());
                kept.push(attr);
            }
            Placement::Everywhere => {
                test_attrs.push(attr.clone());
                kept.push(attr);
            }
        }
    }
    function.attrs = kept;

    let tests = args.backends.iter().map(|(backend, options)| {
        backend_test(*backend, options, args, &name, &output, &test_attrs)
    });
    // The function is unused, and would be warned about, when the tests are
    // compiled out: outside `cfg(test)` or when anyio lacks the backends.
    quote! {
        #[allow(dead_code)]
        #function

        #(#module_attrs)*
        mod #name {
            #[allow(unused_imports)]
            use super::*;

            #(#tests)*
        }
    }
}

/// The `#[test]` for one backend, inside the macro that drops it when that
/// backend is not compiled into anyio.
fn backend_test(
    backend: Backend,
    options: &RuntimeOptions,
    args: &TestArgs,
    name: &Ident,
    output: &syn::ReturnType,
    attrs: &[Attribute],
) -> TokenStream {
    let gate = backend.gate_macro();
    let test_name = Ident::new(backend.name(), Span::call_site());
    let mut runner = args::runner_expr(Some(backend), options);
    if args.virtual_clock.is_some() {
        runner = args::with_virtual_clock(runner);
    }
    // The full path of the built-in `#[test]`: the glob import of the parent
    // module could otherwise bring in another `test` (say `use anyio::test;`).
    quote! {
        #gate! {
            #(#attrs)*
            #[::core::prelude::v1::test]
            fn #test_name() #output {
                ::anyio::__private::run_test(#runner, super::#name)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(tokens: TokenStream) -> String {
        tokens.to_string().replace(' ', "")
    }

    fn expand_text(attr: TokenStream, item: TokenStream) -> String {
        text(expand(attr, item))
    }

    const PRELUDE: &str = "#[allow(unused_imports)]usesuper::*;";

    #[test]
    fn both_backends_by_default() {
        let out = expand_text(
            quote!(),
            quote!(
                async fn adds() {
                    assert_eq!(1 + 1, 2);
                }
            ),
        );
        assert_eq!(
            out,
            format!(
                "#[allow(dead_code)]asyncfnadds(){{assert_eq!(1+1,2);}}\
                 modadds{{{PRELUDE}\
                 ::anyio::__private::if_tokio!{{#[::core::prelude::v1::test]fntokio(){{\
                 ::anyio::__private::run_test(::anyio::Runner::new(::anyio::Backend::Tokio),super::adds)}}}}\
                 ::anyio::__private::if_smol!{{#[::core::prelude::v1::test]fnsmol(){{\
                 ::anyio::__private::run_test(::anyio::Runner::new(::anyio::Backend::Smol),super::adds)}}}}\
                 }}"
            )
        );
    }

    #[test]
    fn selected_backends_and_options() {
        let out = expand_text(
            quote!(tokio(worker_threads = 1), smol(worker_threads = 3)),
            quote!(
                async fn t() {}
            ),
        );
        assert!(out.contains("fntokio(){::anyio::__private::run_test(::anyio::Runner::new(::anyio::Backend::Tokio).worker_threads(1),super::t)}"), "{out}");
        assert!(out.contains("fnsmol(){::anyio::__private::run_test(::anyio::Runner::new(::anyio::Backend::Smol).worker_threads(3),super::t)}"), "{out}");

        let out = expand_text(
            quote!(smol(current_thread)),
            quote!(
                async fn t() {}
            ),
        );
        assert!(out.contains("if_smol!"), "{out}");
        assert!(!out.contains("if_tokio!"), "{out}");
        assert!(
            out.contains("::anyio::Backend::Smol).current_thread(),super::t)"),
            "{out}"
        );

        let out = expand_text(
            quote!(tokio),
            quote!(
                async fn t() {}
            ),
        );
        assert!(out.contains("if_tokio!"), "{out}");
        assert!(!out.contains("if_smol!"), "{out}");
    }

    #[test]
    fn return_type_is_kept_on_the_tests() {
        let out = expand_text(
            quote!(tokio),
            quote!(
                async fn t() -> Result<(), Box<dyn Error>> {
                    Ok(())
                }
            ),
        );
        assert!(
            out.starts_with("#[allow(dead_code)]asyncfnt()->Result<(),Box<dynError>>{Ok(())}"),
            "{out}"
        );
        assert!(
            out.contains("fntokio()->Result<(),Box<dynError>>{"),
            "{out}"
        );
    }

    #[test]
    fn attributes_are_placed() {
        let out = expand_text(
            quote!(smol),
            quote! {
                /// Checks things.
                #[should_panic(expected = "boom")]
                #[ignore = "slow"]
                #[cfg(unix)]
                #[expect(clippy::unused_async)]
                #[allow(unused_variables)]
                pub async fn t() {
                    #![allow(unused_mut)]
                    panic!("boom");
                }
            },
        );
        let (function, module) = out
            .split_once("#[cfg(unix)]mod")
            .unwrap_or_else(|| panic!("{out}"));
        assert_eq!(
            function,
            "#[allow(dead_code)]#[doc=r\"Checksthings.\"]#[cfg(unix)]#[expect(clippy::unused_async)]\
             #[allow(unused_variables)]pubasyncfnt(){#![allow(unused_mut)]panic!(\"boom\");}"
        );
        assert!(
            module.contains(
                "::anyio::__private::if_smol!{#[doc=r\"Checksthings.\"]\
                 #[should_panic(expected=\"boom\")]#[ignore=\"slow\"]#[allow(unused_variables)]\
                 #[::core::prelude::v1::test]fnsmol(){"
            ),
            "{module}"
        );
        // The module stays private whatever the function's visibility.
        assert!(module.starts_with("t{"), "{module}");
    }

    #[test]
    fn argument_errors_keep_the_function_and_generate_no_test() {
        let out = expand_text(
            quote!(tokio, tokio),
            quote!(
                async fn t() {}
            ),
        );
        assert!(out.contains("compile_error!"), "{out}");
        assert!(out.contains("listedmorethanonce"), "{out}");
        assert!(out.ends_with("#[allow(dead_code)]asyncfnt(){}"), "{out}");
        assert!(!out.contains("mod"), "{out}");
    }

    #[test]
    fn signature_errors() {
        let out = expand_text(
            quote!(),
            quote!(
                fn t() {}
            ),
        );
        assert!(out.contains("canonlybeappliedtoan`asyncfn`"), "{out}");
        assert!(!out.contains("run_test"), "{out}");
        let out = expand_text(
            quote!(),
            quote!(
                async fn t(x: u8) {}
            ),
        );
        assert!(out.contains("takenoparameters"), "{out}");
        let out = expand_text(
            quote!(),
            quote!(
                async fn t<T>() {}
            ),
        );
        assert!(out.contains("cannotbegeneric"), "{out}");
    }

    #[test]
    fn explicit_test_attribute_is_an_error() {
        let out = expand_text(
            quote!(),
            quote!(
                #[test]
                #[doc = "x"]
                async fn t() {}
            ),
        );
        assert!(out.contains("removethis`#[test]`"), "{out}");
        assert!(
            out.ends_with("#[allow(dead_code)]#[doc=\"x\"]asyncfnt(){}"),
            "{out}"
        );
    }

    #[test]
    fn every_error_is_reported() {
        let out = expand(
            quote!(foo, smol(bar)),
            quote!(
                fn t(x: u8) {}
            ),
        )
        .to_string();
        assert_eq!(out.matches("compile_error").count(), 4, "{out}");
    }

    #[test]
    fn not_a_function() {
        let out = expand_text(
            quote!(),
            quote!(
                const X: u8 = 1;
            ),
        );
        assert!(out.contains("compile_error!"), "{out}");
        assert!(out.ends_with("constX:u8=1;"), "{out}");
    }
}
