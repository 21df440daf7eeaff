//! `#[call]` and `#[query]`: turn a plain Rust function into a govchain contract entry
//! point. See `govchain-sdk` for usage.

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::{ItemFn, parse_macro_input};

fn entry(item: TokenStream, prefix: &str, dispatch: &str) -> TokenStream {
    let f = parse_macro_input!(item as ItemFn);
    let name = &f.sig.ident;
    if f.sig.inputs.len() != 2 {
        return syn::Error::new_spanned(
            &f.sig,
            "an entry point takes (ctx: &mut Context, args: T) for #[call], (ctx: &Context, args: T) for #[query] or (ctx: &Context, input: JobInput<T>) for #[job]",
        )
        .to_compile_error()
        .into();
    }
    let export = format_ident!("{prefix}{name}");
    let dispatch = format_ident!("{dispatch}");
    quote! {
        #f

        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        #[unsafe(no_mangle)]
        pub extern "C" fn #export() -> i32 {
            ::govchain_sdk::__private::#dispatch(#name)
        }
    }
    .into()
}

/// Marks a transaction entry point: `fn(ctx: &mut Context, args: A) -> Result<R, E>`
/// with `A: Deserialize`, `R: Serialize`, `E: Display`. Exported as `call_<name>`.
#[proc_macro_attribute]
pub fn call(_attr: TokenStream, item: TokenStream) -> TokenStream {
    entry(item, "call_", "dispatch_call")
}

/// Marks a read-only entry point: `fn(ctx: &Context, args: A) -> Result<R, E>`.
/// Exported as `query_<name>`; writes are refused by the host.
#[proc_macro_attribute]
pub fn query(_attr: TokenStream, item: TokenStream) -> TokenStream {
    entry(item, "query_", "dispatch_query")
}

/// Marks a compute-to-data entry point: `fn(ctx: &Context, input: JobInput<A>) -> Result<R, E>`.
/// Exported as `job_<name>`. The data owner's node runs it read-only over one decrypted
/// certificate and posts only the result; `ctx.caller()` is the requesting department.
#[proc_macro_attribute]
pub fn job(_attr: TokenStream, item: TokenStream) -> TokenStream {
    entry(item, "job_", "dispatch_query")
}
