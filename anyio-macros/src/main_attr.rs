//! The expansion of `#[anyio::main]`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ItemFn;
use syn::spanned::Spanned;

use crate::args::{self, Errors, MainArgs};
use crate::function::{self, Kind};

/// Expands `#[anyio::main(attr)] item`.
///
/// Errors come out as `compile_error!` invocations. Unless the signature makes
/// it pointless, a normal expansion (with the default runner when the
/// arguments are wrong) is still emitted next to them, so that the user sees
/// only the macro's errors and not a cascade of "no `main` function" ones.
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
    let args = args::parse_main_args(attr).unwrap_or_else(|error| {
        errors.push(error);
        MainArgs::default()
    });
    let check = function::check_signature(&function.sig, Kind::Main);
    let fatal = check.fatal;
    if let Err(error) = check.errors.finish() {
        errors.push(error);
    }
    let mut out = match errors.finish() {
        Ok(()) => TokenStream::new(),
        Err(error) => error.to_compile_error(),
    };
    if fatal {
        out.extend(stub(&function));
    } else {
        out.extend(generate(&function, &args));
    }
    out
}

/// The sync entry point that runs the user's body on an anyio runner.
fn generate(function: &ItemFn, args: &MainArgs) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
        ..
    } = function;
    let outer = function::outer_attrs(attrs);
    let name = &sig.ident;
    let output = &sig.output;
    let body = function::body_with_inner_attrs(attrs, block);
    let inner = format_ident!("__anyio_main");
    let async_token = sig.asyncness.unwrap_or_default();
    let runner = args::runner_expr(args.backend, &args.options);
    let call = quote_spanned! {sig.span()=>
        ::anyio::__private::run_main(#runner, #inner())
    };
    quote! {
        #(#outer)*
        #vis fn #name() #output {
            #async_token fn #inner() #output #body
            #call
        }
    }
}

/// A placeholder for a function whose signature cannot be kept: a plain
/// `fn name() {}` so that no "`main` function not found" error piles onto
/// the macro's own.
fn stub(function: &ItemFn) -> TokenStream {
    let outer = function::outer_attrs(&function.attrs);
    let vis = &function.vis;
    let name = &function.sig.ident;
    quote! {
        #(#outer)*
        #vis fn #name() {}
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

    #[test]
    fn default_runner() {
        let out = expand_text(
            quote!(),
            quote!(
                async fn main() {
                    work().await;
                }
            ),
        );
        assert_eq!(
            out,
            "fnmain(){asyncfn__anyio_main(){work().await;}\
             ::anyio::__private::run_main(::anyio::Runner::default(),__anyio_main())}"
        );
    }

    #[test]
    fn keeps_return_type_attributes_and_visibility() {
        let out = expand_text(
            quote!(backend = "tokio", worker_threads = 2),
            quote! {
                /// Docs.
                #[allow(unused_variables)]
                pub(crate) async fn main() -> Result<(), Box<dyn Error>> {
                    #![allow(unused_mut)]
                    let mut x = 1;
                    step()?;
                    return Ok(());
                }
            },
        );
        assert_eq!(
            out,
            "#[doc=r\"Docs.\"]#[allow(unused_variables)]\
             pub(crate)fnmain()->Result<(),Box<dynError>>{\
             asyncfn__anyio_main()->Result<(),Box<dynError>>{\
             #![allow(unused_mut)]letmutx=1;step()?;returnOk(());}\
             ::anyio::__private::run_main(\
             ::anyio::Runner::new(::anyio::Backend::Tokio).worker_threads(2),__anyio_main())}"
        );
    }

    #[test]
    fn smol_current_thread() {
        let out = expand_text(
            quote!(current_thread, backend = "smol"),
            quote!(
                async fn main() {}
            ),
        );
        assert!(
            out.contains(
                "run_main(::anyio::Runner::new(::anyio::Backend::Smol).current_thread(),__anyio_main())"
            ),
            "{out}"
        );
    }

    #[test]
    fn bad_arguments_still_expand_with_default_runner() {
        let out = expand_text(
            quote!(backend = "nope"),
            quote!(
                async fn main() {}
            ),
        );
        assert!(out.starts_with("::core::compile_error!"), "{out}");
        assert!(out.contains("unknownbackend\\\"nope\\\""), "{out}");
        assert!(
            out.contains("run_main(::anyio::Runner::default(),__anyio_main())"),
            "{out}"
        );
    }

    #[test]
    fn sync_fn_is_an_error_but_expands() {
        let out = expand_text(
            quote!(),
            quote!(
                fn main() {}
            ),
        );
        assert!(out.contains("compile_error!"), "{out}");
        assert!(out.contains("canonlybeappliedtoan`asyncfn`"), "{out}");
        assert!(out.contains("asyncfn__anyio_main()"), "{out}");
    }

    #[test]
    fn parameters_and_generics_give_a_stub() {
        let out = expand_text(
            quote!(),
            quote!(
                async fn main(x: u8) -> u8 {
                    x
                }
            ),
        );
        assert!(out.contains("takenoparameters"), "{out}");
        assert!(out.ends_with("fnmain(){}"), "{out}");
        assert!(!out.contains("run_main"), "{out}");
        let out = expand_text(
            quote!(),
            quote!(
                async fn main<T>() {}
            ),
        );
        assert!(out.contains("cannotbegeneric"), "{out}");
        assert!(out.ends_with("fnmain(){}"), "{out}");
    }

    #[test]
    fn every_error_is_reported() {
        let out = expand(
            quote!(bogus),
            quote!(
                fn main(x: u8) {}
            ),
        )
        .to_string();
        assert_eq!(out.matches("compile_error").count(), 3, "{out}");
    }

    #[test]
    fn not_a_function() {
        let out = expand_text(
            quote!(),
            quote!(
                struct S;
            ),
        );
        assert!(out.contains("compile_error!"), "{out}");
        assert!(out.ends_with("structS;"), "{out}");
    }
}
