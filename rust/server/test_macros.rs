//! Macros of the server's end-to-end tests.

/// Turns `fn case(io: IoDriver)` into a module with one test per driver: `case::epoll`,
/// `case::uring`. Shared by the server's end-to-end test modules (`tests`, `mount_tests`).
macro_rules! on_both_drivers {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            use super::*;

            #[test]
            fn epoll() {
                super::$case(IoDriver::Epoll);
            }

            #[test]
            fn uring() {
                super::$case(IoDriver::Uring);
            }
        }
    )*};
}
