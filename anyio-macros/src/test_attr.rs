//! The expansion of `#[anyio::test]`.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{ToTokens, quote};
use syn::{Attribute, ItemFn};

use crate::args::{self, Backend, Errors, RuntimeOptions, TestArgs};
use crate::function::{self, Kind};
use crate::params::{self, Param, Source};

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
    let mut function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(error) => {
            let mut out = error.to_compile_error();
            out.extend(item);
            return out;
        }
    };
    if has_rstest(&function.attrs) {
        return defer_to_rstest(function, &attr);
    }
    let mut errors = Errors::default();
    let args = args::parse_test_args(attr).map_err(|error| errors.push(error));
    let check = function::check_signature(&function.sig, Kind::Test);
    if let Err(error) = check.errors.finish() {
        errors.push(error);
    }
    let params = params::parse(&function.sig, Kind::Test, &mut errors);
    if function.sig.asyncness.is_none() {
        check_sync_test(&function.sig, &params, args.as_ref().ok(), &mut errors);
    }
    params::strip_attributes(&mut function.sig);
    for attr in function::outer_attrs(&function.attrs) {
        if function::is_named(attr, "test") {
            errors.push(syn::Error::new_spanned(
                attr,
                "remove this `#[test]`: #[anyio::test] generates the `#[test]` functions itself",
            ));
        }
    }
    match (errors.finish(), args) {
        (Ok(()), Ok(args)) => generate(function, &args, &params),
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

/// Whether `attrs` has an `#[rstest]` attribute (any path ending in `rstest`).
fn has_rstest(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| {
        matches!(attr.style, syn::AttrStyle::Outer)
            && attr
                .path()
                .segments
                .last()
                .is_some_and(|segment| segment.ident == "rstest")
    })
}

/// The function again, with `#[anyio::test(attr)]` moved below its `#[rstest]`, as its
/// last attribute: rstest must expand first, since it turns each case into a function
/// without the case parameters, and it copies the attribute (whose path ends in `test`,
/// so rstest adds no `#[test]` of its own) onto each of them, where this attribute
/// expands as usual. Last, because rstest gives the attributes written between two
/// `#[case]`s to the case below them only.
fn defer_to_rstest(mut function: ItemFn, attr: &TokenStream) -> TokenStream {
    let again: Attribute = syn::parse_quote!(#[::anyio::test(#attr)]);
    function.attrs.push(again);
    function.into_token_stream()
}

/// The checks of a test that is not `async`: it is run once per backend without a
/// runtime, so it can only take `backend` (and must, or it would not need this attribute).
fn check_sync_test(
    sig: &syn::Signature,
    params: &[Param],
    args: Option<&TestArgs>,
    errors: &mut Errors,
) {
    if sig.inputs.is_empty() {
        errors.push(function::not_async(sig, Kind::Test));
        return;
    }
    for param in params {
        if !matches!(param.source, Source::Backend) {
            errors.push(syn::Error::new_spanned(
                &param.ident,
                "a test that is not `async` can only take `backend: anyio::Backend`: \
                 fixtures are set up in a run, which needs an `async fn`",
            ));
        }
    }
    let Some(args) = args else {
        return;
    };
    if let Some(timeout) = args.timeout {
        errors.push(syn::Error::new(
            timeout.span,
            "`timeout` needs an `async fn`: a test that is not `async` has no run to cancel",
        ));
    }
    if let Some(span) = args.virtual_clock {
        errors.push(syn::Error::new(
            span,
            "`virtual_clock` needs an `async fn`: a test that is not `async` has no run to \
             give a clock",
        ));
    }
    for (backend, options) in &args.backends {
        if options.worker_threads.is_some()
            || options.current_thread.is_some()
            || options.tokio_compat.is_some()
        {
            errors.push(syn::Error::new(
                sig.fn_token.span,
                format!(
                    "the options of `{}` need an `async fn`: a test that is not `async` \
                     starts no runtime",
                    backend.name()
                ),
            ));
        }
    }
}

/// The async function, kept, and the module of per-backend tests.
fn generate(mut function: ItemFn, args: &TestArgs, params: &[Param]) -> TokenStream {
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

    let call = if function.sig.asyncness.is_some() {
        async_call(&name, args, params)
    } else {
        sync_call(&name, params)
    };
    let tests = args.backends.iter().map(|(backend, options)| {
        backend_test(*backend, options, args, &call, &output, &test_attrs)
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

/// How a generated test runs the function, given the backend and its options.
enum Call {
    /// `run_test(runner, name, timeout, <closure>)`: an async test in a run.
    Async {
        /// The test's name, for messages.
        label: String,
        /// The `Option<Duration>` of its timeout.
        timeout: TokenStream,
        /// The closure that sets the fixtures up and awaits the test.
        closure: TokenStream,
    },
    /// `run_sync_test(backend, <closure>)`: a synchronous test given its backend.
    Sync {
        /// The closure that calls the test with the backend.
        closure: TokenStream,
    },
}

/// The run of an async test: its fixtures set up, then the function awaited.
fn async_call(name: &Ident, args: &TestArgs, params: &[Param]) -> Call {
    let closure = if params.is_empty() {
        quote!(|_| super::#name())
    } else {
        let context = params::context_ident();
        let set_up = params::set_up(params, &context);
        let arguments = params::arguments(params);
        quote! {
            |#context: ::anyio::testing::FixtureContext| async move {
                #set_up
                super::#name(#(#arguments),*).await
            }
        }
    };
    Call::Async {
        label: name.to_string(),
        timeout: args::timeout_expr(args.timeout),
        closure,
    }
}

/// The call of a synchronous test with its backend.
fn sync_call(name: &Ident, params: &[Param]) -> Call {
    let backend = Ident::new("__anyio_backend", Span::mixed_site());
    let arguments = params.iter().map(|_| &backend);
    Call::Sync {
        closure: quote!(|#backend| super::#name(#(#arguments),*)),
    }
}

/// What a `#[should_panic]` among `attrs` expects: `Some("")` without
/// `expected`, `None` without the attribute.
fn expected_panic(attrs: &[Attribute]) -> Option<String> {
    let attr = attrs
        .iter()
        .find(|attr| function::is_named(attr, "should_panic"))?;
    let string = |expr: &syn::Expr| match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(text),
            ..
        }) => Some(text.value()),
        _ => None,
    };
    let expected = match &attr.meta {
        syn::Meta::NameValue(name_value) => string(&name_value.value),
        syn::Meta::List(list) => list
            .parse_args::<syn::MetaNameValue>()
            .ok()
            .filter(|name_value| name_value.path.is_ident("expected"))
            .and_then(|name_value| string(&name_value.value)),
        syn::Meta::Path(_) => None,
    };
    Some(expected.unwrap_or_default())
}

/// The `#[test]` for one backend, inside the macro that drops it when that
/// backend is not compiled into anyio.
fn backend_test(
    backend: Backend,
    options: &RuntimeOptions,
    args: &TestArgs,
    call: &Call,
    output: &syn::ReturnType,
    attrs: &[Attribute],
) -> TokenStream {
    let gate = backend.gate_macro();
    let test_name = Ident::new(backend.name(), Span::call_site());
    let body = match call {
        Call::Async {
            label,
            timeout,
            closure,
        } => {
            let mut runner = args::runner_expr(Some(backend), options);
            if args.virtual_clock.is_some() {
                runner = args::with_virtual_clock(runner);
            }
            quote!(::anyio::__private::run_test(#runner, #label, #timeout, #closure))
        }
        Call::Sync { closure } => {
            let variant = backend.variant_path();
            quote!(::anyio::__private::run_sync_test(#variant, #closure))
        }
    };
    // A `#[should_panic]` test that `ANYIO_BACKENDS` leaves out must still panic,
    // with what it expects, to pass.
    let skipped = expected_panic(attrs).map(|expected| {
        let variant = backend.variant_path();
        quote!(::anyio::__private::panic_if_skipped(#variant, #expected);)
    });
    // The full path of the built-in `#[test]`: the glob import of the parent
    // module could otherwise bring in another `test` (say `use anyio::test;`).
    quote! {
        #gate! {
            #(#attrs)*
            #[::core::prelude::v1::test]
            fn #test_name() #output {
                #skipped
                #body
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
                 ::anyio::__private::run_test(::anyio::Runner::new(::anyio::Backend::Tokio),\"adds\",::core::option::Option::None,|_|super::adds())}}}}\
                 ::anyio::__private::if_smol!{{#[::core::prelude::v1::test]fnsmol(){{\
                 ::anyio::__private::run_test(::anyio::Runner::new(::anyio::Backend::Smol),\"adds\",::core::option::Option::None,|_|super::adds())}}}}\
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
        assert!(out.contains("fntokio(){::anyio::__private::run_test(::anyio::Runner::new(::anyio::Backend::Tokio).worker_threads(1),\"t\",::core::option::Option::None,|_|super::t())}"), "{out}");
        assert!(out.contains("fnsmol(){::anyio::__private::run_test(::anyio::Runner::new(::anyio::Backend::Smol).worker_threads(3),\"t\",::core::option::Option::None,|_|super::t())}"), "{out}");

        let out = expand_text(
            quote!(smol(current_thread)),
            quote!(
                async fn t() {}
            ),
        );
        assert!(out.contains("if_smol!"), "{out}");
        assert!(!out.contains("if_tokio!"), "{out}");
        assert!(
            out.contains("::anyio::Backend::Smol).current_thread(),\"t\","),
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
                async fn t<T>() {}
            ),
        );
        assert!(out.contains("cannotbegeneric"), "{out}");
        let out = expand_text(
            quote!(),
            quote!(
                fn t(x: u8) {}
            ),
        );
        assert!(out.contains("canonlytake`backend:anyio::Backend`"), "{out}");
        let out = expand_text(
            quote!(timeout = "1s", tokio(current_thread)),
            quote!(
                fn t(backend: Backend) {}
            ),
        );
        assert!(out.contains("`timeout`needsan`asyncfn`"), "{out}");
        assert!(out.contains("theoptionsof`tokio`needan`asyncfn`"), "{out}");
    }

    #[test]
    fn fixtures_are_set_up_in_the_run() {
        let out = expand_text(
            quote!(smol, timeout = "2s"),
            quote!(
                async fn t(#[from(fx::server)] server: Addr, backend: Backend) {}
            ),
        );
        assert!(
            out.starts_with("#[allow(dead_code)]asyncfnt(server:Addr,backend:Backend){}"),
            "{out}"
        );
        assert!(
            out.contains(
                "fnsmol(){::anyio::__private::run_test(::anyio::Runner::new(::anyio::Backend::Smol),\"t\",\
                 ::core::option::Option::Some(::core::time::Duration::from_millis(2000)),\
                 |__anyio_fixtures:::anyio::testing::FixtureContext|asyncmove{\
                 letserver=fx::server::__anyio_setup(&__anyio_fixtures).await;\
                 letbackend=__anyio_fixtures.backend();super::t(server,backend).await})}"
            ),
            "{out}"
        );
    }

    #[test]
    fn should_panic_tests_panic_when_skipped() {
        for (attr, expected) in [
            (quote!(#[should_panic(expected = "boom")]), "\"boom\""),
            (quote!(#[should_panic = "bang"]), "\"bang\""),
            (quote!(#[should_panic]), "\"\""),
        ] {
            let out = expand_text(
                quote!(smol),
                quote!(
                    #attr
                    async fn t() {}
                ),
            );
            assert!(
                out.contains(&format!(
                    "fnsmol(){{::anyio::__private::panic_if_skipped(::anyio::Backend::Smol,{expected});"
                )),
                "{out}"
            );
        }
        let out = expand_text(
            quote!(smol),
            quote!(
                async fn t() {}
            ),
        );
        assert!(!out.contains("panic_if_skipped"), "{out}");
    }

    #[test]
    fn sync_tests_take_their_backend() {
        let out = expand_text(
            quote!(tokio),
            quote!(
                fn t(backend: Backend) {}
            ),
        );
        assert!(
            out.contains(
                "fntokio(){::anyio::__private::run_sync_test(::anyio::Backend::Tokio,\
                 |__anyio_backend|super::t(__anyio_backend))}"
            ),
            "{out}"
        );
    }

    #[test]
    fn rstest_expands_first() {
        for item in [
            quote!(
                #[rstest]
                #[case(1)]
                async fn t(#[case] x: u32) {}
            ),
            quote!(
                #[doc = "d"]
                #[rstest::rstest]
                #[case(1)]
                async fn t(#[case] x: u32) {}
            ),
        ] {
            let out = expand_text(quote!(smol), item);
            assert!(
                out.contains("rstest]#[case(1)]#[::anyio::test(smol)]asyncfnt(#[case]x:u32){}"),
                "{out}"
            );
            assert!(!out.contains("run_test"), "{out}");
        }
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
                fn t(x: u8, (a, b): u8) {}
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
