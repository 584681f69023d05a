//! `containerd-shim-dynamig-v2`: see the library docs.

fn main() {
    let config = containerd_shim::Config {
        // dynamig's JSON log (`$DYNAMIG_LOG_FILE`, else `<state dir>/runtime.log`), not the
        // shim log FIFO.
        no_setup_logger: true,
        ..Default::default()
    };
    containerd_shim::run::<dynamig_shim::manager::DynamigShim>(
        dynamig_shim::RUNTIME_ID,
        Some(config),
    );
}
