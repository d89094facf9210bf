//! Parsing of the arguments given to `#[anyio::main(...)]` and `#[anyio::test(...)]`.
//!
//! Both attributes take a comma separated list of [`syn::Meta`] items. The
//! runtime options (`worker_threads = N`, `current_thread`) are shared; what
//! differs is how a backend is chosen:
//!
//! * `main`: `backend = "tokio"` / `backend = "smol"` next to the options;
//! * `test`: a list of backends, each with its own options in parentheses,
//!   `tokio(current_thread), smol(worker_threads = 2)`.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Lit, LitInt, MacroDelimiter, Meta, Token};

/// Collects several errors so that one compilation reports all of them.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    /// Records one more error.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(first) => first.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// `Ok(())` if nothing was recorded, else all the errors at once.
    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// One of the runtimes that anyio can drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// The tokio backend.
    Tokio,
    /// The smol backend.
    Smol,
}

impl Backend {
    /// Every backend, in the order tests are generated when none is named.
    pub(crate) const ALL: [Self; 2] = [Self::Tokio, Self::Smol];

    /// The name used in the attribute arguments, and for the generated test.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Tokio => "tokio",
            Self::Smol => "smol",
        }
    }

    /// The backend called `name`, if any.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|backend| backend.name() == name)
    }

    /// The path of the matching `::anyio::Backend` variant.
    pub(crate) fn variant_path(self) -> TokenStream {
        match self {
            Self::Tokio => quote!(::anyio::Backend::Tokio),
            Self::Smol => quote!(::anyio::Backend::Smol),
        }
    }

    /// The path of the `macro_rules!` that keeps its input only when this
    /// backend is compiled into anyio.
    pub(crate) fn gate_macro(self) -> TokenStream {
        match self {
            Self::Tokio => quote!(::anyio::__private::if_tokio),
            Self::Smol => quote!(::anyio::__private::if_smol),
        }
    }
}

/// A `worker_threads = N` option, with the span of `N` for the generated call.
#[derive(Clone, Debug)]
pub(crate) struct WorkerThreads {
    /// The number of worker threads, at least 1.
    pub(crate) value: usize,
    /// Where the literal was written.
    pub(crate) span: Span,
}

/// Runtime options common to both attributes.
#[derive(Clone, Debug, Default)]
pub(crate) struct RuntimeOptions {
    /// `worker_threads = N`, if given.
    pub(crate) worker_threads: Option<WorkerThreads>,
    /// `current_thread`, if given (the span of the flag).
    pub(crate) current_thread: Option<Span>,
    /// `tokio_compat`, if given (the span of the flag): `Runner::tokio_compat(true)`.
    pub(crate) tokio_compat: Option<Span>,
}

/// The parsed arguments of `#[anyio::main(...)]`.
#[derive(Clone, Debug, Default)]
pub(crate) struct MainArgs {
    /// `backend = "..."`, if given; `None` means `Runner::default()`.
    pub(crate) backend: Option<Backend>,
    /// The runtime options.
    pub(crate) options: RuntimeOptions,
}

/// The parsed arguments of `#[anyio::test(...)]`.
#[derive(Clone, Debug)]
pub(crate) struct TestArgs {
    /// The backends to generate a test for, in the order written, each with
    /// its options.
    pub(crate) backends: Vec<(Backend, RuntimeOptions)>,
    /// `timeout = "..."`, if given.
    pub(crate) timeout: Option<TestTimeout>,
    /// `virtual_clock`, if given (the span of the flag): every backend's test runs on a
    /// virtual clock with autojump.
    pub(crate) virtual_clock: Option<Span>,
}

/// A `timeout = "10s"` argument of `#[anyio::test]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TestTimeout {
    /// The timeout in milliseconds, at least 1.
    pub(crate) millis: u64,
    /// Where the string was written.
    pub(crate) span: Span,
}

/// The accepted forms of an option, for error messages.
const OPTIONS_HELP: &str = "`worker_threads = N`, `current_thread` or `tokio_compat`";

/// The accepted backend names of `#[anyio::test]`, for error messages.
const TEST_BACKENDS_HELP: &str = "`tokio` or `smol`";

/// The accepted arguments of `#[anyio::main]`, for error messages.
const MAIN_ARGS_HELP: &str = "`backend = \"tokio\"`, `backend = \"smol\"`, `worker_threads = N`, `current_thread` or `tokio_compat`";

/// Splits `attr` into its comma separated items.
fn parse_metas(attr: TokenStream) -> syn::Result<Punctuated<Meta, Token![,]>> {
    Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr)
}

/// The path of `meta` as written (`a::b`), for error messages.
fn path_text(meta: &Meta) -> String {
    meta.path().to_token_stream().to_string().replace(' ', "")
}

/// `meta`'s name if its path is a single identifier.
fn single_ident(meta: &Meta) -> Option<String> {
    meta.path().get_ident().map(ToString::to_string)
}

/// Strips the invisible groups that `macro_rules!` puts around `$x:expr`.
fn strip_groups(mut expr: &Expr) -> &Expr {
    while let Expr::Group(group) = expr {
        expr = &group.expr;
    }
    expr
}

/// Reads the value of `worker_threads = N`.
fn parse_worker_threads(meta: &Meta) -> syn::Result<WorkerThreads> {
    let Meta::NameValue(name_value) = meta else {
        return Err(syn::Error::new_spanned(
            meta,
            "`worker_threads` needs a value, as in `worker_threads = 4`",
        ));
    };
    let value = strip_groups(&name_value.value);
    let literal: &LitInt = match value {
        Expr::Lit(expr) => match &expr.lit {
            Lit::Int(int) => int,
            _ => return Err(not_an_integer(value)),
        },
        _ => return Err(not_an_integer(value)),
    };
    if !matches!(literal.suffix(), "" | "usize") {
        return Err(syn::Error::new(
            literal.span(),
            format!(
                "`worker_threads` takes an integer literal without a type suffix (or `usize`), \
                 not `{}`",
                literal.suffix()
            ),
        ));
    }
    // syn reads `-1` as one negative literal.
    let negative = literal.base10_digits().starts_with('-');
    let count: usize = if negative { 0 } else { literal.base10_parse()? };
    if count == 0 {
        return Err(syn::Error::new(
            literal.span(),
            "`worker_threads` must be at least 1",
        ));
    }
    Ok(WorkerThreads {
        value: count,
        span: literal.span(),
    })
}

/// The error for `worker_threads = <not an integer literal>`.
fn not_an_integer(value: &Expr) -> syn::Error {
    syn::Error::new_spanned(
        value,
        "`worker_threads` takes an integer literal of at least 1, as in `worker_threads = 4`",
    )
}

/// The error for `current_thread` given together with `worker_threads`.
fn conflict(span: Span) -> syn::Error {
    syn::Error::new(
        span,
        "`current_thread` and `worker_threads` cannot be used together: \
         a current-thread runtime runs everything on the calling thread",
    )
}

/// Reads `meta` into `options` if it names a runtime option.
///
/// Returns `Ok(false)`, leaving `options` unchanged, when `meta` is not an
/// option at all so that the caller can report it in its own words.
fn parse_option(meta: &Meta, options: &mut RuntimeOptions) -> syn::Result<bool> {
    match single_ident(meta).as_deref() {
        Some("worker_threads") => {
            if options.worker_threads.is_some() {
                return Err(syn::Error::new_spanned(
                    meta,
                    "`worker_threads` is given more than once",
                ));
            }
            let worker_threads = parse_worker_threads(meta)?;
            if options.current_thread.is_some() {
                return Err(conflict(meta.span()));
            }
            options.worker_threads = Some(worker_threads);
            Ok(true)
        }
        Some("current_thread") => {
            let Meta::Path(path) = meta else {
                return Err(syn::Error::new_spanned(
                    meta,
                    "`current_thread` is a flag and takes no value: write `current_thread`",
                ));
            };
            if options.current_thread.is_some() {
                return Err(syn::Error::new_spanned(
                    meta,
                    "`current_thread` is given more than once",
                ));
            }
            if options.worker_threads.is_some() {
                return Err(conflict(path.span()));
            }
            options.current_thread = Some(path.span());
            Ok(true)
        }
        Some("tokio_compat") => {
            let Meta::Path(path) = meta else {
                return Err(syn::Error::new_spanned(
                    meta,
                    "`tokio_compat` is a flag and takes no value: write `tokio_compat`",
                ));
            };
            if options.tokio_compat.is_some() {
                return Err(syn::Error::new_spanned(
                    meta,
                    "`tokio_compat` is given more than once",
                ));
            }
            options.tokio_compat = Some(path.span());
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Parses the arguments of `#[anyio::main(...)]`.
pub(crate) fn parse_main_args(attr: TokenStream) -> syn::Result<MainArgs> {
    let metas = parse_metas(attr)?;
    let mut args = MainArgs::default();
    let mut backend_seen = false;
    let mut errors = Errors::default();
    for meta in &metas {
        if meta.path().is_ident("backend") {
            if backend_seen {
                errors.push(syn::Error::new_spanned(
                    meta,
                    "`backend` is given more than once",
                ));
                continue;
            }
            backend_seen = true;
            match parse_backend_value(meta) {
                Ok(backend) => args.backend = Some(backend),
                Err(error) => errors.push(error),
            }
            continue;
        }
        match parse_option(meta, &mut args.options) {
            Ok(true) => {}
            Ok(false) => errors.push(unknown_main_argument(meta)),
            Err(error) => errors.push(error),
        }
    }
    errors.finish()?;
    Ok(args)
}

/// Reads the string of `backend = "..."`.
fn parse_backend_value(meta: &Meta) -> syn::Result<Backend> {
    let wrong_form = || {
        syn::Error::new_spanned(
            meta,
            "`backend` takes a string: `backend = \"tokio\"` or `backend = \"smol\"`",
        )
    };
    let Meta::NameValue(name_value) = meta else {
        return Err(wrong_form());
    };
    let Expr::Lit(expr) = strip_groups(&name_value.value) else {
        return Err(wrong_form());
    };
    let Lit::Str(string) = &expr.lit else {
        return Err(wrong_form());
    };
    Backend::from_name(&string.value()).ok_or_else(|| {
        syn::Error::new(
            string.span(),
            format!(
                "unknown backend {:?}: the accepted values are \"tokio\" and \"smol\"",
                string.value()
            ),
        )
    })
}

/// The error for an argument of `#[anyio::main]` that it does not know.
fn unknown_main_argument(meta: &Meta) -> syn::Error {
    let name = path_text(meta);
    let message = match Backend::from_name(&name) {
        Some(backend) => format!(
            "unknown argument `{name}`: to choose the backend write `backend = \"{}\"`",
            backend.name()
        ),
        None => format!("unknown argument `{name}`: expected {MAIN_ARGS_HELP}"),
    };
    syn::Error::new_spanned(meta.path(), message)
}

/// Parses the arguments of `#[anyio::test(...)]`.
pub(crate) fn parse_test_args(attr: TokenStream) -> syn::Result<TestArgs> {
    let metas = parse_metas(attr)?;
    let mut backends: Vec<(Backend, RuntimeOptions)> = Vec::new();
    let mut timeout = None;
    let mut virtual_clock = None;
    let mut errors = Errors::default();
    for meta in &metas {
        if let Some(flag) = parse_virtual_clock(meta, virtual_clock) {
            match flag {
                Ok(span) => virtual_clock = Some(span),
                Err(error) => errors.push(error),
            }
            continue;
        }
        if meta.path().is_ident("timeout") {
            match parse_timeout(meta, timeout.is_some()) {
                Ok(value) => timeout = Some(value),
                Err(error) => errors.push(error),
            }
            continue;
        }
        let Some(backend) = single_ident(meta).as_deref().and_then(Backend::from_name) else {
            errors.push(unknown_test_backend(meta));
            continue;
        };
        if backends.iter().any(|(seen, _)| *seen == backend) {
            errors.push(syn::Error::new_spanned(
                meta,
                format!("backend `{}` is listed more than once", backend.name()),
            ));
            continue;
        }
        match parse_backend_options(meta, backend) {
            Ok(options) => backends.push((backend, options)),
            Err(error) => errors.push(error),
        }
    }
    errors.finish()?;
    if backends.is_empty() {
        backends = Backend::ALL
            .into_iter()
            .map(|backend| (backend, RuntimeOptions::default()))
            .collect();
    }
    Ok(TestArgs {
        backends,
        timeout,
        virtual_clock,
    })
}

/// The accepted form of `timeout`, for error messages.
const TIMEOUT_HELP: &str =
    "`timeout` takes a string of a whole number and a unit, `ms` or `s`: `timeout = \"10s\"`";

/// Reads `timeout = "10s"` (or `"250ms"`); `seen` if one was read already.
fn parse_timeout(meta: &Meta, seen: bool) -> syn::Result<TestTimeout> {
    if seen {
        return Err(syn::Error::new_spanned(
            meta,
            "`timeout` is given more than once",
        ));
    }
    let Meta::NameValue(name_value) = meta else {
        return Err(syn::Error::new_spanned(meta, TIMEOUT_HELP));
    };
    let Expr::Lit(expr) = strip_groups(&name_value.value) else {
        return Err(syn::Error::new_spanned(&name_value.value, TIMEOUT_HELP));
    };
    let Lit::Str(string) = &expr.lit else {
        return Err(syn::Error::new_spanned(&name_value.value, TIMEOUT_HELP));
    };
    let text = string.value();
    let (digits, scale) = if let Some(digits) = text.strip_suffix("ms") {
        (digits, 1)
    } else if let Some(digits) = text.strip_suffix('s') {
        (digits, 1000)
    } else {
        return Err(syn::Error::new(string.span(), TIMEOUT_HELP));
    };
    let number = if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        None
    } else {
        digits.parse::<u64>().ok()
    };
    let Some(number) = number else {
        return Err(syn::Error::new(string.span(), TIMEOUT_HELP));
    };
    match number.checked_mul(scale) {
        Some(0) => Err(syn::Error::new(
            string.span(),
            "`timeout` must be greater than zero",
        )),
        Some(millis) => Ok(TestTimeout {
            millis,
            span: string.span(),
        }),
        None => Err(syn::Error::new(string.span(), "`timeout` is too large")),
    }
}

/// The `Option<Duration>` expression of a test's timeout.
pub(crate) fn timeout_expr(timeout: Option<TestTimeout>) -> TokenStream {
    match timeout {
        None => quote!(::core::option::Option::None),
        Some(timeout) => {
            let mut millis = Literal::u64_unsuffixed(timeout.millis);
            millis.set_span(timeout.span);
            quote!(::core::option::Option::Some(::core::time::Duration::from_millis(#millis)))
        }
    }
}

/// Reads the `virtual_clock` flag of `#[anyio::test]`: `None` if `meta` is something else,
/// else the flag's span or why it is written wrong (`seen`: the flag given before).
fn parse_virtual_clock(meta: &Meta, seen: Option<Span>) -> Option<syn::Result<Span>> {
    if !meta.path().is_ident("virtual_clock") {
        return None;
    }
    Some(match meta {
        Meta::Path(path) if seen.is_none() => Ok(path.span()),
        Meta::Path(_) => Err(syn::Error::new_spanned(
            meta,
            "`virtual_clock` is given more than once",
        )),
        _ => Err(syn::Error::new_spanned(
            meta,
            "`virtual_clock` is a flag and takes no value: write `virtual_clock` (the test \
             can change the clock's settings through `anyio::VirtualClock::current()`)",
        )),
    })
}

/// `runner` with a virtual clock that autojumps as soon as the run is blocked, as
/// `#[anyio::test(virtual_clock)]` asks.
pub(crate) fn with_virtual_clock(runner: TokenStream) -> TokenStream {
    quote! {
        #runner.virtual_clock(
            ::anyio::VirtualClock::new().autojump(::core::time::Duration::ZERO)
        )
    }
}

/// Reads the options of one backend of `#[anyio::test]`: `tokio` or
/// `tokio(option, ...)`.
fn parse_backend_options(meta: &Meta, backend: Backend) -> syn::Result<RuntimeOptions> {
    let mut options = RuntimeOptions::default();
    let list = match meta {
        Meta::Path(_) => return Ok(options),
        Meta::List(list) if matches!(list.delimiter, MacroDelimiter::Paren(_)) => list,
        _ => {
            return Err(syn::Error::new_spanned(
                meta,
                format!(
                    "options of a backend go in parentheses, as in `{}(worker_threads = 2)`",
                    backend.name()
                ),
            ));
        }
    };
    let inner = list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)?;
    let mut errors = Errors::default();
    for option in &inner {
        match parse_option(option, &mut options) {
            Ok(true) => {}
            Ok(false) => errors.push(syn::Error::new_spanned(
                option.path(),
                format!(
                    "unknown option `{}` for `{}`: expected {OPTIONS_HELP}",
                    path_text(option),
                    backend.name()
                ),
            )),
            Err(error) => errors.push(error),
        }
    }
    errors.finish()?;
    Ok(options)
}

/// The error for an item of `#[anyio::test(...)]` that is not a backend.
fn unknown_test_backend(meta: &Meta) -> syn::Error {
    let name = path_text(meta);
    let message = if matches!(name.as_str(), "worker_threads" | "current_thread") {
        format!(
            "`{name}` is an option of one backend and goes in its parentheses, \
             as in `tokio({name}{})`",
            if name == "worker_threads" { " = 2" } else { "" }
        )
    } else if name == "backend" {
        format!("`#[anyio::test]` names its backends directly: expected {TEST_BACKENDS_HELP}")
    } else {
        format!("unknown backend `{name}`: expected {TEST_BACKENDS_HELP}")
    };
    syn::Error::new_spanned(meta.path(), message)
}

/// The expression that builds the `::anyio::Runner` for `backend` (the
/// default one when `None`) with `options` applied.
pub(crate) fn runner_expr(backend: Option<Backend>, options: &RuntimeOptions) -> TokenStream {
    let mut expr = match backend {
        None => quote!(::anyio::Runner::default()),
        Some(backend) => {
            let variant = backend.variant_path();
            quote!(::anyio::Runner::new(#variant))
        }
    };
    if let Some(worker_threads) = &options.worker_threads {
        let mut count = Literal::usize_unsuffixed(worker_threads.value);
        count.set_span(worker_threads.span);
        expr.extend(quote!(.worker_threads(#count)));
    }
    if options.current_thread.is_some() {
        expr.extend(quote!(.current_thread()));
    }
    if let Some(span) = options.tokio_compat {
        expr.extend(quote_spanned!(span=> .tokio_compat(true)));
    }
    expr
}

#[cfg(test)]
mod tests {
    use super::*;

    fn main_err(attr: TokenStream) -> String {
        parse_main_args(attr).unwrap_err().to_string()
    }

    fn test_err(attr: TokenStream) -> String {
        parse_test_args(attr).unwrap_err().to_string()
    }

    fn all_messages(error: syn::Error) -> Vec<String> {
        error.into_iter().map(|e| e.to_string()).collect()
    }

    fn summary(args: &TestArgs) -> Vec<(&'static str, Option<usize>, bool)> {
        args.backends
            .iter()
            .map(|(backend, options)| {
                (
                    backend.name(),
                    options.worker_threads.as_ref().map(|w| w.value),
                    options.current_thread.is_some(),
                )
            })
            .collect()
    }

    // ---- #[anyio::main] ----

    #[test]
    fn main_no_arguments() {
        let args = parse_main_args(quote!()).unwrap();
        assert_eq!(args.backend, None);
        assert!(args.options.worker_threads.is_none());
        assert!(args.options.current_thread.is_none());
    }

    #[test]
    fn main_backends() {
        let tokio = parse_main_args(quote!(backend = "tokio")).unwrap();
        assert_eq!(tokio.backend, Some(Backend::Tokio));
        let smol = parse_main_args(quote!(backend = "smol",)).unwrap();
        assert_eq!(smol.backend, Some(Backend::Smol));
    }

    #[test]
    fn main_all_arguments_any_order() {
        let args = parse_main_args(quote!(worker_threads = 3, backend = "smol")).unwrap();
        assert_eq!(args.backend, Some(Backend::Smol));
        assert_eq!(args.options.worker_threads.unwrap().value, 3);

        let args = parse_main_args(quote!(current_thread, backend = "tokio")).unwrap();
        assert_eq!(args.backend, Some(Backend::Tokio));
        assert!(args.options.current_thread.is_some());

        let args = parse_main_args(quote!(worker_threads = 2usize)).unwrap();
        assert_eq!(args.options.worker_threads.unwrap().value, 2);
    }

    #[test]
    fn main_unknown_backend_value() {
        let message = main_err(quote!(backend = "async-std"));
        assert!(
            message.contains("unknown backend \"async-std\""),
            "{message}"
        );
        assert!(message.contains("\"tokio\""), "{message}");
        assert!(message.contains("\"smol\""), "{message}");
    }

    #[test]
    fn main_backend_not_a_string() {
        for attr in [
            quote!(backend = tokio),
            quote!(backend),
            quote!(backend(tokio)),
        ] {
            let message = main_err(attr);
            assert!(message.contains("`backend` takes a string"), "{message}");
        }
    }

    #[test]
    fn main_duplicate_arguments() {
        let message = main_err(quote!(backend = "tokio", backend = "smol"));
        assert!(
            message.contains("`backend` is given more than once"),
            "{message}"
        );
        let message = main_err(quote!(worker_threads = 1, worker_threads = 2));
        assert!(
            message.contains("`worker_threads` is given more than once"),
            "{message}"
        );
        let message = main_err(quote!(current_thread, current_thread));
        assert!(
            message.contains("`current_thread` is given more than once"),
            "{message}"
        );
    }

    #[test]
    fn main_unknown_argument() {
        let message = main_err(quote!(flavor = "multi_thread"));
        assert!(message.contains("unknown argument `flavor`"), "{message}");
        assert!(message.contains("`backend = \"tokio\"`"), "{message}");
        let message = main_err(quote!(tokio));
        assert!(message.contains("write `backend = \"tokio\"`"), "{message}");
        let message = main_err(quote!(a::b));
        assert!(message.contains("unknown argument `a::b`"), "{message}");
    }

    #[test]
    fn main_worker_threads_errors() {
        for attr in [quote!(worker_threads = 0), quote!(worker_threads = -1)] {
            let message = main_err(attr);
            assert!(message.contains("must be at least 1"), "{message}");
        }
        let message = main_err(quote!(worker_threads = 99999999999999999999999999));
        assert!(message.contains("too large"), "{message}");
        for attr in [
            quote!(worker_threads = -x),
            quote!(worker_threads = "4"),
            quote!(worker_threads = N),
            quote!(worker_threads = 1.5),
        ] {
            let message = main_err(attr);
            assert!(message.contains("takes an integer literal"), "{message}");
        }
        let message = main_err(quote!(worker_threads = 4u8));
        assert!(message.contains("without a type suffix"), "{message}");
        let message = main_err(quote!(worker_threads));
        assert!(message.contains("needs a value"), "{message}");
    }

    #[test]
    fn main_conflict_either_order() {
        for attr in [
            quote!(current_thread, worker_threads = 2),
            quote!(worker_threads = 2, current_thread),
        ] {
            let message = main_err(attr);
            assert!(message.contains("cannot be used together"), "{message}");
        }
        let message = main_err(quote!(current_thread = true));
        assert!(message.contains("is a flag"), "{message}");
    }

    #[test]
    fn main_reports_every_error() {
        let error = parse_main_args(quote!(foo, worker_threads = 0, backend = "x")).unwrap_err();
        assert_eq!(all_messages(error).len(), 3);
    }

    #[test]
    fn main_syntax_error() {
        assert!(parse_main_args(quote!(backend = )).is_err());
        assert!(parse_main_args(quote!(backend "tokio")).is_err());
    }

    // ---- #[anyio::test] ----

    #[test]
    fn test_no_arguments_means_both_backends() {
        let args = parse_test_args(quote!()).unwrap();
        assert_eq!(
            summary(&args),
            [("tokio", None, false), ("smol", None, false)]
        );
    }

    #[test]
    fn test_selected_backends() {
        let args = parse_test_args(quote!(tokio)).unwrap();
        assert_eq!(summary(&args), [("tokio", None, false)]);
        let args = parse_test_args(quote!(smol)).unwrap();
        assert_eq!(summary(&args), [("smol", None, false)]);
        let args = parse_test_args(quote!(smol, tokio,)).unwrap();
        assert_eq!(
            summary(&args),
            [("smol", None, false), ("tokio", None, false)]
        );
    }

    #[test]
    fn test_backend_options() {
        let args =
            parse_test_args(quote!(tokio(worker_threads = 1), smol(worker_threads = 3))).unwrap();
        assert_eq!(
            summary(&args),
            [("tokio", Some(1), false), ("smol", Some(3), false)]
        );
        let args = parse_test_args(quote!(tokio(current_thread), smol(current_thread))).unwrap();
        assert_eq!(
            summary(&args),
            [("tokio", None, true), ("smol", None, true)]
        );
        let args = parse_test_args(quote!(tokio(worker_threads = 4), smol)).unwrap();
        assert_eq!(
            summary(&args),
            [("tokio", Some(4), false), ("smol", None, false)]
        );
        let args = parse_test_args(quote!(tokio())).unwrap();
        assert_eq!(summary(&args), [("tokio", None, false)]);
    }

    #[test]
    fn test_unknown_backend() {
        let message = test_err(quote!(async_std));
        assert!(message.contains("unknown backend `async_std`"), "{message}");
        assert!(message.contains("`tokio`"), "{message}");
        assert!(message.contains("`smol`"), "{message}");
        let message = test_err(quote!(tokio = 1));
        assert!(message.contains("in parentheses"), "{message}");
        let message = test_err(quote!(backend = "tokio"));
        assert!(message.contains("names its backends directly"), "{message}");
    }

    #[test]
    fn test_option_outside_backend() {
        let message = test_err(quote!(worker_threads = 2));
        assert!(message.contains("`tokio(worker_threads = 2)`"), "{message}");
        let message = test_err(quote!(current_thread));
        assert!(message.contains("`tokio(current_thread)`"), "{message}");
    }

    #[test]
    fn test_backend_twice() {
        let message = test_err(quote!(tokio, smol, tokio(current_thread)));
        assert!(
            message.contains("backend `tokio` is listed more than once"),
            "{message}"
        );
    }

    #[test]
    fn test_unknown_option() {
        let message = test_err(quote!(smol(flavor = "x")));
        assert!(
            message.contains("unknown option `flavor` for `smol`"),
            "{message}"
        );
        assert!(message.contains("`worker_threads = N`"), "{message}");
    }

    #[test]
    fn test_option_errors() {
        let message = test_err(quote!(tokio(worker_threads = 0)));
        assert!(message.contains("must be at least 1"), "{message}");
        let message = test_err(quote!(tokio(worker_threads = x)));
        assert!(message.contains("takes an integer literal"), "{message}");
        let message = test_err(quote!(smol(current_thread, worker_threads = 2)));
        assert!(message.contains("cannot be used together"), "{message}");
        let message = test_err(quote!(smol(worker_threads = 2, worker_threads = 2)));
        assert!(message.contains("given more than once"), "{message}");
        let message = test_err(quote!(smol[current_thread]));
        assert!(message.contains("in parentheses"), "{message}");
    }

    #[test]
    fn test_reports_every_error() {
        let error = parse_test_args(quote!(foo, tokio(bar), smol(worker_threads = 0))).unwrap_err();
        assert_eq!(all_messages(error).len(), 3);
    }

    // ---- timeout ----

    #[test]
    fn test_timeouts() {
        let args = parse_test_args(quote!(timeout = "10s")).unwrap();
        assert_eq!(args.timeout.unwrap().millis, 10_000);
        assert_eq!(
            summary(&args),
            [("tokio", None, false), ("smol", None, false)]
        );
        let args = parse_test_args(quote!(smol, timeout = "250ms")).unwrap();
        assert_eq!(args.timeout.unwrap().millis, 250);
        assert_eq!(summary(&args), [("smol", None, false)]);
        assert!(parse_test_args(quote!()).unwrap().timeout.is_none());
        assert_eq!(
            text(timeout_expr(args.timeout)),
            "::core::option::Option::Some(::core::time::Duration::from_millis(250))"
        );
        assert_eq!(text(timeout_expr(None)), "::core::option::Option::None");
    }

    #[test]
    fn test_timeout_errors() {
        for attr in [
            quote!(timeout = 10),
            quote!(timeout = "10"),
            quote!(timeout = "ten s"),
            quote!(timeout = "1.5s"),
            quote!(timeout = "-1s"),
            quote!(timeout = "s"),
            quote!(timeout = "10m"),
            quote!(timeout),
            quote!(timeout("1s")),
        ] {
            let message = test_err(attr);
            assert!(message.contains("a whole number and a unit"), "{message}");
        }
        let message = test_err(quote!(timeout = "0ms"));
        assert!(message.contains("greater than zero"), "{message}");
        let message = test_err(quote!(timeout = "99999999999999999999s"));
        assert!(message.contains("a whole number"), "{message}");
        let message = test_err(quote!(timeout = "18446744073709551615s"));
        assert!(message.contains("too large"), "{message}");
        let message = test_err(quote!(timeout = "1s", timeout = "2s"));
        assert!(message.contains("given more than once"), "{message}");
    }

    // ---- runner expression ----

    fn text(tokens: TokenStream) -> String {
        tokens.to_string().replace(' ', "")
    }

    #[test]
    fn runner_expressions() {
        assert_eq!(
            text(runner_expr(None, &RuntimeOptions::default())),
            "::anyio::Runner::default()"
        );
        let args = parse_main_args(quote!(backend = "smol", worker_threads = 4usize)).unwrap();
        assert_eq!(
            text(runner_expr(args.backend, &args.options)),
            "::anyio::Runner::new(::anyio::Backend::Smol).worker_threads(4)"
        );
        let args = parse_main_args(quote!(current_thread)).unwrap();
        assert_eq!(
            text(runner_expr(args.backend, &args.options)),
            "::anyio::Runner::default().current_thread()"
        );
        let args = parse_test_args(quote!(tokio(current_thread))).unwrap();
        let (backend, options) = &args.backends[0];
        assert_eq!(
            text(runner_expr(Some(*backend), options)),
            "::anyio::Runner::new(::anyio::Backend::Tokio).current_thread()"
        );
        let args = parse_test_args(quote!(smol(worker_threads = 2, tokio_compat))).unwrap();
        let (backend, options) = &args.backends[0];
        assert_eq!(
            text(runner_expr(Some(*backend), options)),
            "::anyio::Runner::new(::anyio::Backend::Smol).worker_threads(2).tokio_compat(true)"
        );
        let args = parse_main_args(quote!(backend = "smol", tokio_compat)).unwrap();
        assert_eq!(
            text(runner_expr(args.backend, &args.options)),
            "::anyio::Runner::new(::anyio::Backend::Smol).tokio_compat(true)"
        );
    }

    #[test]
    fn tokio_compat_is_a_flag_given_once() {
        assert_eq!(
            test_err(quote!(smol(tokio_compat = true))),
            "`tokio_compat` is a flag and takes no value: write `tokio_compat`"
        );
        assert_eq!(
            test_err(quote!(smol(tokio_compat, tokio_compat))),
            "`tokio_compat` is given more than once"
        );
    }

    // ---- virtual_clock ----

    #[test]
    fn virtual_clock_alone_means_both_backends_on_a_virtual_clock() {
        let args = parse_test_args(quote!(virtual_clock)).unwrap();
        assert!(args.virtual_clock.is_some());
        assert_eq!(
            summary(&args),
            vec![("tokio", None, false), ("smol", None, false)]
        );
        assert_eq!(
            text(with_virtual_clock(quote!(r))),
            "r.virtual_clock(::anyio::VirtualClock::new().autojump(::core::time::Duration::ZERO))"
        );
    }

    #[test]
    fn virtual_clock_with_backends_in_any_order() {
        for attr in [
            quote!(virtual_clock, smol(current_thread)),
            quote!(smol(current_thread), virtual_clock),
        ] {
            let args = parse_test_args(attr).unwrap();
            assert!(args.virtual_clock.is_some());
            assert_eq!(summary(&args), vec![("smol", None, true)]);
        }
        let args = parse_test_args(quote!(tokio)).unwrap();
        assert!(args.virtual_clock.is_none());
    }

    #[test]
    fn virtual_clock_misuse() {
        let message = test_err(quote!(virtual_clock, virtual_clock));
        assert!(message.contains("more than once"), "{message}");
        let message = test_err(quote!(virtual_clock = true));
        assert!(message.contains("is a flag"), "{message}");
        let message = test_err(quote!(virtual_clock(rate = 2)));
        assert!(message.contains("is a flag"), "{message}");
    }
}
