//! The parameters of tests and fixtures: each names the fixture that supplies it.
//!
//! A parameter is a plain name and a type. Its name picks its value, as in rstest and
//! pytest: `backend` is the backend the test runs on, `task_group` the test's task group,
//! and any other name is the fixture function of that name (`#[from(path)]` names another
//! one). A leading underscore is not part of the name (`_server` asks for `server`), so a
//! fixture used only for what its setup does needs no `#[allow(unused)]`.
//!
//! The generated code sets every parameter up in order, inside the test's run, with
//! `path::__anyio_setup(&context).await`: the code `#[anyio::fixture]` generates for each
//! fixture, which sets up that fixture's own parameters the same way.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, Ident, Pat, Path, Signature};

use crate::args::Errors;
use crate::function::Kind;

/// The attributes that rstest reads on parameters: they mean the test needs `#[rstest]`.
const RSTEST_ATTRIBUTES: [&str; 8] = [
    "case", "values", "with", "future", "by_ref", "files", "context", "ignore",
];

/// The attributes of a parameter that stay on the function and mean nothing here.
const KEPT_ATTRIBUTES: [&str; 5] = ["doc", "allow", "expect", "warn", "deny"];

/// What supplies a parameter.
#[derive(Clone)]
pub(crate) enum Source {
    /// The fixture function at this path.
    Fixture(Path),
    /// The backend the test runs on.
    Backend,
    /// The test's task group.
    TaskGroup,
}

/// One parameter: its name and what supplies it.
#[derive(Clone)]
pub(crate) struct Param {
    /// The parameter's name, as written.
    pub(crate) ident: Ident,
    /// What supplies it.
    pub(crate) source: Source,
}

/// The identifier of the fixture context in generated code, out of the user's reach.
pub(crate) fn context_ident() -> Ident {
    Ident::new("__anyio_fixtures", Span::mixed_site())
}

/// Reads the parameters of `sig`, recording every problem in `errors`.
pub(crate) fn parse(sig: &Signature, kind: Kind, errors: &mut Errors) -> Vec<Param> {
    let mut params = Vec::new();
    for input in &sig.inputs {
        let typed = match input {
            FnArg::Receiver(receiver) => {
                errors.push(syn::Error::new_spanned(
                    receiver,
                    format!("{} functions cannot take `self`", kind.attribute()),
                ));
                continue;
            }
            FnArg::Typed(typed) => typed,
        };
        let from = match from_attribute(&typed.attrs, kind) {
            Ok(from) => from,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        let ident = match &*typed.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => pat.ident.clone(),
            pat => {
                errors.push(syn::Error::new_spanned(
                    pat,
                    "a parameter of a test or fixture must be a plain name, which picks the \
                     fixture that supplies it (or name the fixture with `#[from(fixture)]`)",
                ));
                continue;
            }
        };
        // `_server` asks for `server` without warning that the test leaves it unused.
        let text = ident.to_string();
        let name = match text.strip_prefix('_') {
            Some(rest) if !rest.is_empty() => rest,
            _ => &text,
        };
        let source = match from {
            Some(path) => Source::Fixture(path),
            None if name == "backend" => Source::Backend,
            None if name == "task_group" => Source::TaskGroup,
            None => Source::Fixture(Path::from(Ident::new(name, ident.span()))),
        };
        params.push(Param { ident, source });
    }
    params
}

/// The fixture path of `#[from(path)]` among a parameter's attributes, if any; an error
/// for any other attribute.
fn from_attribute(attrs: &[Attribute], kind: Kind) -> syn::Result<Option<Path>> {
    let mut from = None;
    let mut errors = Errors::default();
    for attr in attrs {
        if attr.path().is_ident("from") {
            if from.is_some() {
                errors.push(syn::Error::new_spanned(
                    attr,
                    "`#[from]` is given more than once",
                ));
                continue;
            }
            match attr.parse_args::<Path>() {
                Ok(path) => from = Some(path),
                Err(_) => errors.push(syn::Error::new_spanned(
                    attr,
                    "`#[from]` takes the path of a fixture function: `#[from(server)]`",
                )),
            }
            continue;
        }
        let name = attr.path().get_ident().map(ToString::to_string);
        if name
            .as_deref()
            .is_some_and(|name| KEPT_ATTRIBUTES.contains(&name))
        {
            continue;
        }
        let rstest = name
            .as_deref()
            .is_some_and(|name| RSTEST_ATTRIBUTES.contains(&name));
        let message = match (rstest, kind) {
            (true, Kind::Test) => format!(
                "`#[{}]` is an attribute of rstest: add `#[rstest]` to the test (above or below \
                 `#[anyio::test]`), which then supplies this parameter",
                name.unwrap_or_default()
            ),
            (true, _) => format!(
                "`#[{}]` is an attribute of rstest, which does not set up anyio fixtures",
                name.unwrap_or_default()
            ),
            (false, _) => "unknown parameter attribute: the only one anyio reads is \
                           `#[from(fixture)]`"
                .to_owned(),
        };
        errors.push(syn::Error::new(attr.span(), message));
    }
    errors.finish()?;
    Ok(from)
}

/// Removes the `#[from]` attributes from the parameters of `sig`, which rustc would not
/// know once the function is emitted.
pub(crate) fn strip_attributes(sig: &mut Signature) {
    for input in &mut sig.inputs {
        if let FnArg::Typed(typed) = input {
            typed.attrs.retain(|attr| !attr.path().is_ident("from"));
        }
    }
}

/// The statements that set every parameter up, in order, from the context `context`,
/// binding each to its name.
pub(crate) fn set_up(params: &[Param], context: &Ident) -> TokenStream {
    let statements = params.iter().map(|Param { ident, source }| match source {
        Source::Fixture(path) => quote! {
            let #ident = #path::__anyio_setup(&#context).await;
        },
        Source::Backend => quote! {
            let #ident = #context.backend();
        },
        Source::TaskGroup => quote! {
            let #ident = #context.task_group();
        },
    });
    quote!(#(#statements)*)
}

/// The parameters' names, in order, as the arguments of the call.
pub(crate) fn arguments(params: &[Param]) -> impl Iterator<Item = &Ident> {
    params.iter().map(|param| &param.ident)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_sig(item: TokenStream, kind: Kind) -> (Vec<Param>, Vec<String>) {
        let function: syn::ItemFn = syn::parse2(item).unwrap();
        let mut errors = Errors::default();
        let params = parse(&function.sig, kind, &mut errors);
        let messages = match errors.finish() {
            Ok(()) => Vec::new(),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        };
        (params, messages)
    }

    fn describe(params: &[Param]) -> Vec<String> {
        params
            .iter()
            .map(|param| match &param.source {
                Source::Fixture(path) => {
                    format!(
                        "{} <- {}",
                        param.ident,
                        quote!(#path).to_string().replace(' ', "")
                    )
                }
                Source::Backend => format!("{} <- backend", param.ident),
                Source::TaskGroup => format!("{} <- task group", param.ident),
            })
            .collect()
    }

    #[test]
    fn names_pick_fixtures() {
        let (params, errors) = parse_sig(
            quote!(
                async fn t(
                    server: Addr,
                    mut backend: Backend,
                    task_group: TaskGroup,
                    #[from(crate::fx::other)] mine: u8,
                    #[from(port)] backend2: u16,
                    _unused: u8,
                    _backend: Backend,
                ) {
                }
            ),
            Kind::Test,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            describe(&params),
            [
                "server <- server",
                "backend <- backend",
                "task_group <- task group",
                "mine <- crate::fx::other",
                "backend2 <- port",
                "_unused <- unused",
                "_backend <- backend"
            ]
        );
    }

    #[test]
    fn set_up_code() {
        let (params, _) = parse_sig(
            quote!(
                async fn t(server: Addr, backend: Backend, task_group: TaskGroup) {}
            ),
            Kind::Test,
        );
        let context = Ident::new("cx", Span::call_site());
        assert_eq!(
            set_up(&params, &context).to_string().replace(' ', ""),
            "letserver=server::__anyio_setup(&cx).await;\
             letbackend=cx.backend();lettask_group=cx.task_group();"
        );
    }

    #[test]
    fn misuse_is_reported() {
        let (_, errors) = parse_sig(
            quote!(
                async fn t(
                    (a, b): (u8, u8),
                    ref r: u8,
                    _: u8,
                    #[case] x: u32,
                    #[from] y: u8,
                    #[from(a)]
                    #[from(b)]
                    z: u8,
                    #[serde] w: u8,
                ) {
                }
            ),
            Kind::Test,
        );
        assert_eq!(errors.len(), 7, "{errors:?}");
        assert!(errors[0].contains("must be a plain name"), "{errors:?}");
        assert!(errors[3].contains("add `#[rstest]`"), "{errors:?}");
        assert!(
            errors[4].contains("takes the path of a fixture"),
            "{errors:?}"
        );
        assert!(errors[5].contains("more than once"), "{errors:?}");
        assert!(
            errors[6].contains("unknown parameter attribute"),
            "{errors:?}"
        );
        let (_, errors) = parse_sig(
            quote!(
                async fn f(&self) {}
            ),
            Kind::Fixture,
        );
        assert_eq!(errors, ["#[anyio::fixture] functions cannot take `self`"]);
    }

    #[test]
    fn from_attributes_are_stripped() {
        let mut function: syn::ItemFn = syn::parse2(quote!(
            async fn t(#[from(x)] a: u8, #[doc = "kept"] b: u8) {}
        ))
        .unwrap();
        strip_attributes(&mut function.sig);
        assert_eq!(
            quote!(#function).to_string().replace(' ', ""),
            "asyncfnt(a:u8,#[doc=\"kept\"]b:u8){}"
        );
    }
}
