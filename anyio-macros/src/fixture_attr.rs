//! The expansion of `#[anyio::fixture]`.
//!
//! The function stays as written (less the `#[from]` attributes of its parameters). Next
//! to it comes a hidden braced struct of the same name, which lives in the type namespace
//! only, so the function keeps its name for callers; its one associated function,
//! `__anyio_setup`, is what a test (or another fixture) calls to set the fixture up: it
//! sets up the fixture's parameters, calls the function, and hands the result to
//! `::anyio::__private::finish_setup`, which keeps the teardown and returns the value.
//!
//! The return type says what the function gives, read from how it is written:
//! `Fixture<T>` is a value with a teardown, `Result<X, E>` (any path ending in `Result`,
//! such as `io::Result<X>`) a setup that can fail, anything else the value itself. The
//! value's type is written in the generated code exactly as in the function's signature,
//! in the same module, so it means the same there.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{ToTokens, quote};
use syn::{GenericArgument, ItemFn, PathArguments, ReturnType, Type};

use crate::args::Errors;
use crate::function::{self, Kind};
use crate::params::{self, Param};

/// What a fixture function returns, by how its return type is written.
enum Output {
    /// The value itself.
    Plain(Type),
    /// `Result<T, E>`: a setup that can fail.
    Result(Type),
    /// `Fixture<T>`: a value with a teardown.
    Fixture(Type),
    /// `Result<Fixture<T>, E>`.
    ResultFixture(Type),
}

impl Output {
    /// Reads the return type.
    fn of(output: &ReturnType) -> Self {
        let ty = match output {
            ReturnType::Default => return Output::Plain(syn::parse_quote!(())),
            ReturnType::Type(_, ty) => &**ty,
        };
        if let Some(ok) = first_argument_of(ty, "Result") {
            return match first_argument_of(ok, "Fixture") {
                Some(value) => Output::ResultFixture(value.clone()),
                None => Output::Result(ok.clone()),
            };
        }
        match first_argument_of(ty, "Fixture") {
            Some(value) => Output::Fixture(value.clone()),
            None => Output::Plain(ty.clone()),
        }
    }

    /// The type of the value the test receives.
    fn value(&self) -> &Type {
        match self {
            Output::Plain(ty) | Output::Result(ty) | Output::Fixture(ty) => ty,
            Output::ResultFixture(ty) => ty,
        }
    }

    /// `out`, the function's output, as a `Result<Fixture<T>, E>`.
    fn normalised(&self, out: &Ident) -> TokenStream {
        let ok = quote!(::core::result::Result::Ok::<_, ::anyio::BoxError>);
        match self {
            Output::Plain(_) => quote!(#ok(::anyio::testing::Fixture::new(#out))),
            Output::Result(_) => quote!(#out.map(::anyio::testing::Fixture::new)),
            Output::Fixture(_) => quote!(#ok(#out)),
            Output::ResultFixture(_) => quote!(#out),
        }
    }
}

/// The first generic type argument of `ty` if `ty` is a path whose last segment is `name`.
fn first_argument_of<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(arguments) = &last.arguments else {
        return None;
    };
    arguments.args.iter().find_map(|argument| match argument {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

/// Expands `#[anyio::fixture(attr)] item`.
///
/// On any error the `compile_error!`s come out next to the user's function, and no setup
/// is generated.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(error) => {
            let mut out = error.to_compile_error();
            out.extend(item);
            return out;
        }
    };
    let mut errors = Errors::default();
    let shared = parse_shared(attr).unwrap_or_else(|error| {
        errors.push(error);
        false
    });
    if let Err(error) = function::check_signature(&function.sig, Kind::Fixture)
        .errors
        .finish()
    {
        errors.push(error);
    }
    let params = params::parse(&function.sig, Kind::Fixture, &mut errors);
    params::strip_attributes(&mut function.sig);
    if let Err(error) = errors.finish() {
        let mut out = error.to_compile_error();
        out.extend(quote!(#[allow(dead_code)]));
        out.extend(function.into_token_stream());
        return out;
    }
    generate(function, &params, shared)
}

/// Reads the arguments: nothing, or `shared`.
fn parse_shared(attr: TokenStream) -> syn::Result<bool> {
    if attr.is_empty() {
        return Ok(false);
    }
    match syn::parse2::<Ident>(attr.clone()) {
        Ok(ident) if ident == "shared" => Ok(true),
        _ => Err(syn::Error::new_spanned(
            attr,
            "#[anyio::fixture] takes no arguments but `shared` (one instance per test, \
             cloned for every use): a fixture's parameters name the fixtures it uses",
        )),
    }
}

/// The function, kept, and its setup; a `shared` fixture's setup first looks for the
/// instance this test already has.
fn generate(function: ItemFn, params: &[Param], shared: bool) -> TokenStream {
    let name = &function.sig.ident;
    let vis = &function.vis;
    let output = Output::of(&function.sig.output);
    let value = output.value();
    let context = params::context_ident();
    let set_up = params::set_up(params, &context);
    let arguments = params::arguments(params);
    let out = Ident::new("__anyio_out", Span::mixed_site());
    let normalised = output.normalised(&out);
    let label = name.to_string();
    let value_ident = Ident::new("__anyio_value", Span::mixed_site());
    let (reuse, keep) = if shared {
        (
            quote! {
                if let ::core::option::Option::Some(#value_ident) =
                    #context.shared_instance::<Self, #value>()
                {
                    return #value_ident;
                }
            },
            quote!(#context.share_instance::<Self, #value>(&#value_ident);),
        )
    } else {
        (TokenStream::new(), TokenStream::new())
    };
    quote! {
        #function

        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        #vis struct #name {}

        impl #name {
            #[doc(hidden)]
            #[allow(dead_code)]
            #vis async fn __anyio_setup(#context: &::anyio::testing::FixtureContext) -> #value {
                #reuse
                #set_up
                let #out = #name(#(#arguments),*).await;
                let #value_ident = ::anyio::__private::finish_setup(#context, #label, #normalised);
                #keep
                #value_ident
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_text(attr: TokenStream, item: TokenStream) -> String {
        expand(attr, item).to_string().replace(' ', "")
    }

    #[test]
    fn return_types_are_read() {
        let cases = [
            (
                quote!(),
                "()",
                "Ok::<_,::anyio::BoxError>(::anyio::testing::Fixture::new(__anyio_out))",
            ),
            (
                quote!(-> u16),
                "u16",
                "Ok::<_,::anyio::BoxError>(::anyio::testing::Fixture::new(__anyio_out))",
            ),
            (
                quote!(-> io::Result<u16>),
                "u16",
                "__anyio_out.map(::anyio::testing::Fixture::new)",
            ),
            (
                quote!(-> Result<Vec<u8>, BoxError>),
                "Vec<u8>",
                "__anyio_out.map(::anyio::testing::Fixture::new)",
            ),
            (
                quote!(-> Fixture<Server>),
                "Server",
                "Ok::<_,::anyio::BoxError>(__anyio_out)",
            ),
            (
                quote!(-> Result<anyio::testing::Fixture<Server>, E>),
                "Server",
                "finish_setup(__anyio_fixtures,\"f\",__anyio_out)",
            ),
        ];
        for (output, value, normalised) in cases {
            let out = expand_text(
                quote!(),
                quote!(
                    async fn f() #output {
                        todo!()
                    }
                ),
            );
            assert!(
                out.contains(&format!(
                    "__anyio_setup(__anyio_fixtures:&::anyio::testing::FixtureContext)->{value}{{"
                )),
                "{out}"
            );
            assert!(out.contains(normalised), "{out}");
        }
    }

    #[test]
    fn full_expansion() {
        let out = expand_text(
            quote!(),
            quote!(
                /// Docs.
                pub(crate) async fn server(
                    port: u16,
                    #[from(other)] name: String,
                    backend: Backend,
                ) -> Fixture<Addr> {
                    todo!()
                }
            ),
        );
        assert_eq!(
            out,
            "#[doc=r\"Docs.\"]pub(crate)asyncfnserver(port:u16,name:String,backend:Backend,)->Fixture<Addr>{todo!()}\
             #[doc(hidden)]#[allow(non_camel_case_types,dead_code)]pub(crate)structserver{}\
             implserver{#[doc(hidden)]#[allow(dead_code)]\
             pub(crate)asyncfn__anyio_setup(__anyio_fixtures:&::anyio::testing::FixtureContext)->Addr{\
             letport=port::__anyio_setup(&__anyio_fixtures).await;\
             letname=other::__anyio_setup(&__anyio_fixtures).await;\
             letbackend=__anyio_fixtures.backend();\
             let__anyio_out=server(port,name,backend).await;\
             let__anyio_value=::anyio::__private::finish_setup(__anyio_fixtures,\"server\",\
             ::core::result::Result::Ok::<_,::anyio::BoxError>(__anyio_out));__anyio_value}}"
        );
    }

    #[test]
    fn shared_fixtures_reuse_their_instance() {
        let out = expand_text(
            quote!(shared),
            quote!(
                async fn log() -> Log {
                    Log::default()
                }
            ),
        );
        assert!(
            out.contains(
                "->Log{if let::core::option::Option::Some(__anyio_value)=\
                 __anyio_fixtures.shared_instance::<Self,Log>(){return__anyio_value;}"
                    .replace(' ', "")
                    .as_str()
            ),
            "{out}"
        );
        assert!(
            out.ends_with(
                "__anyio_fixtures.share_instance::<Self,Log>(&__anyio_value);__anyio_value}}"
            ),
            "{out}"
        );
        let out = expand_text(
            quote!(scope = "module"),
            quote!(
                async fn log() {}
            ),
        );
        assert!(out.contains("takesnoargumentsbut`shared`"), "{out}");
    }

    #[test]
    fn misuse_is_reported_and_the_function_kept() {
        let out = expand_text(
            quote!(scope = "module"),
            quote!(
                fn f<T>(&self, (a, b): (u8, u8)) -> u8 {
                    1
                }
            ),
        );
        assert_eq!(out.matches("compile_error").count(), 5, "{out}");
        assert!(out.contains("takesnoargumentsbut`shared`"), "{out}");
        assert!(out.contains("afixtureissetupinsidethetest'srun"), "{out}");
        assert!(out.contains("cannotbegeneric"), "{out}");
        assert!(out.contains("cannottake`self`"), "{out}");
        assert!(out.contains("mustbeaplainname"), "{out}");
        assert!(!out.contains("__anyio_setup"), "{out}");
    }
}
