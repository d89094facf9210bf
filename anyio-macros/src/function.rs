//! Checks and helpers shared by both attributes for the annotated function.

use proc_macro2::{Group, TokenStream};
use quote::{ToTokens, quote};
use syn::{AttrStyle, Attribute, Block, Safety, Signature};

use crate::args::Errors;

/// Which attribute is being expanded, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `#[anyio::main]`.
    Main,
    /// `#[anyio::test]`.
    Test,
    /// `#[anyio::fixture]`.
    Fixture,
}

impl Kind {
    /// The attribute as the user writes it.
    pub(crate) fn attribute(self) -> &'static str {
        match self {
            Self::Main => "#[anyio::main]",
            Self::Test => "#[anyio::test]",
            Self::Fixture => "#[anyio::fixture]",
        }
    }
}

/// What is wrong with a function signature, split by how bad it is.
pub(crate) struct SignatureCheck {
    /// Every problem found, if any.
    pub(crate) errors: Errors,
    /// Whether a problem is such that the body cannot be moved into a
    /// function without parameters or generics (the expansion would only add
    /// confusing errors of its own).
    pub(crate) fatal: bool,
}

/// Checks that `sig` is `async fn name(..) -> R` with no generics, `unsafe`,
/// `const` or ABI, and for `main` no parameters. A test's parameters (fixtures)
/// and whether it must be async (it need not, with a `backend` parameter) are
/// checked with its parameters.
pub(crate) fn check_signature(sig: &Signature, kind: Kind) -> SignatureCheck {
    let attribute = kind.attribute();
    let mut errors = Errors::default();
    let mut fatal = false;
    if sig.asyncness.is_none() && kind != Kind::Test {
        errors.push(not_async(sig, kind));
    }
    if let Some(constness) = &sig.constness {
        fatal = true;
        errors.push(syn::Error::new_spanned(
            constness,
            format!("{attribute} cannot be applied to a `const fn`"),
        ));
    }
    if let Safety::Unsafe(unsafety) = &sig.safety {
        fatal = true;
        errors.push(syn::Error::new_spanned(
            unsafety,
            format!("{attribute} cannot be applied to an `unsafe fn`"),
        ));
    }
    if let Some(abi) = &sig.abi {
        fatal = true;
        errors.push(syn::Error::new_spanned(
            abi,
            format!("{attribute} cannot be applied to a function with an explicit ABI"),
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        fatal = true;
        let mut generics = sig.generics.to_token_stream();
        if let Some(where_clause) = &sig.generics.where_clause {
            generics.extend(where_clause.to_token_stream());
        }
        errors.push(syn::Error::new_spanned(
            generics,
            format!("{attribute} functions cannot be generic"),
        ));
    }
    if let Some(variadic) = &sig.variadic {
        fatal = true;
        errors.push(syn::Error::new_spanned(
            variadic,
            format!("{attribute} functions cannot be variadic"),
        ));
    }
    if kind == Kind::Main && !sig.inputs.is_empty() {
        fatal = true;
        errors.push(syn::Error::new_spanned(
            &sig.inputs,
            format!("{attribute} functions take no parameters"),
        ));
    }
    SignatureCheck { errors, fatal }
}

/// The error for a function that should be `async`.
pub(crate) fn not_async(sig: &Signature, kind: Kind) -> syn::Error {
    let attribute = kind.attribute();
    let why = match kind {
        Kind::Fixture => ": a fixture is set up inside the test's run",
        Kind::Main | Kind::Test => "",
    };
    syn::Error::new_spanned(
        sig.fn_token,
        format!("{attribute} can only be applied to an `async fn`{why}: add `async` before `fn`"),
    )
}

/// Whether `attr` is `#[name ...]` for a single-identifier `name`.
pub(crate) fn is_named(attr: &Attribute, name: &str) -> bool {
    attr.path().is_ident(name)
}

/// The outer attributes (`#[...]`, including doc comments) of a function;
/// syn keeps the inner ones (`#![...]` at the start of the body) in the same
/// list.
pub(crate) fn outer_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs
        .iter()
        .filter(|attr| matches!(attr.style, AttrStyle::Outer))
}

/// The body `{ #![inner attrs] statements }` of a function, with the braces'
/// original span so that type errors point at the user's code.
pub(crate) fn body_with_inner_attrs(attrs: &[Attribute], block: &Block) -> TokenStream {
    let inner = attrs
        .iter()
        .filter(|attr| matches!(attr.style, AttrStyle::Inner(_)));
    let statements = &block.stmts;
    let mut group = Group::new(
        proc_macro2::Delimiter::Brace,
        quote!(#(#inner)* #(#statements)*),
    );
    group.set_span(block.brace_token.span.join());
    group.into_token_stream()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(item: TokenStream, kind: Kind) -> (Vec<String>, bool) {
        let function: syn::ItemFn = syn::parse2(item).unwrap();
        let check = check_signature(&function.sig, kind);
        let messages = match check.errors.finish() {
            Ok(()) => Vec::new(),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        };
        (messages, check.fatal)
    }

    #[test]
    fn accepts_async_fn_without_parameters() {
        assert_eq!(
            check(
                quote!(
                    async fn main() {}
                ),
                Kind::Main
            ),
            (vec![], false)
        );
        assert_eq!(
            check(
                quote!(
                    pub async fn t() -> Result<(), E> {
                        Ok(())
                    }
                ),
                Kind::Test
            ),
            (vec![], false)
        );
    }

    #[test]
    fn rejects_sync_fn_without_being_fatal() {
        let (messages, fatal) = check(
            quote!(
                fn main() {}
            ),
            Kind::Main,
        );
        assert_eq!(
            messages,
            ["#[anyio::main] can only be applied to an `async fn`: add `async` before `fn`"]
        );
        assert!(!fatal);
    }

    #[test]
    fn rejects_parameters_of_main_only() {
        let (messages, fatal) = check(
            quote!(
                async fn main(x: u32) {}
            ),
            Kind::Main,
        );
        assert_eq!(messages, ["#[anyio::main] functions take no parameters"]);
        assert!(fatal);
        for kind in [Kind::Test, Kind::Fixture] {
            let (messages, _) = check(
                quote!(
                    async fn t(x: u32) {}
                ),
                kind,
            );
            assert!(messages.is_empty(), "{messages:?}");
        }
    }

    #[test]
    fn sync_tests_are_checked_with_their_parameters() {
        let (messages, _) = check(
            quote!(
                fn t() {}
            ),
            Kind::Test,
        );
        assert!(messages.is_empty(), "{messages:?}");
        let (messages, _) = check(
            quote!(
                fn f() {}
            ),
            Kind::Fixture,
        );
        assert_eq!(
            messages,
            [
                "#[anyio::fixture] can only be applied to an `async fn`: a fixture is set up \
                 inside the test's run: add `async` before `fn`"
            ]
        );
    }

    #[test]
    fn rejects_generics() {
        let (messages, fatal) = check(
            quote!(
                async fn main<T>() {}
            ),
            Kind::Main,
        );
        assert_eq!(messages, ["#[anyio::main] functions cannot be generic"]);
        assert!(fatal);
        let (messages, _) = check(
            quote!(
                async fn t()
                where
                    u8: Copy,
                {
                }
            ),
            Kind::Test,
        );
        assert_eq!(messages, ["#[anyio::test] functions cannot be generic"]);
    }

    #[test]
    fn rejects_unsafe_const_and_abi() {
        let (found, fatal) = check(
            quote!(
                unsafe fn main(a: u8) {}
            ),
            Kind::Main,
        );
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(fatal);
        let (found, _) = check(
            quote!(
                async unsafe extern "C" fn t() {}
            ),
            Kind::Test,
        );
        assert!(found.iter().any(|m| m.contains("`unsafe fn`")), "{found:?}");
        assert!(
            found.iter().any(|m| m.contains("explicit ABI")),
            "{found:?}"
        );
        let (found, _) = check(
            quote!(
                const async fn t() {}
            ),
            Kind::Test,
        );
        assert!(found.iter().any(|m| m.contains("`const fn`")), "{found:?}");
    }

    #[test]
    fn splits_inner_and_outer_attributes() {
        let function: syn::ItemFn = syn::parse2(quote!(
            #[doc = "x"]
            async fn f() {
                #![allow(unused)]
                let a = 1;
            }
        ))
        .unwrap();
        let outer: Vec<_> = outer_attrs(&function.attrs).collect();
        assert_eq!(outer.len(), 1);
        assert!(is_named(outer[0], "doc"));
        let body = body_with_inner_attrs(&function.attrs, &function.block).to_string();
        assert_eq!(body.replace(' ', ""), "{#![allow(unused)]leta=1;}");
    }
}
