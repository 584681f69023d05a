//! Task events to containerd (`/tasks/create`, `/tasks/exit`, ...), sent in order from one
//! thread so that no request waits on containerd's event service. When containerd restarts, the
//! connection is made again (the events wait meanwhile, in order), as the Go shim does: the
//! kubelet learns a container's exit from `/tasks/exit`.

use containerd_shim::protos::protobuf::MessageDyn;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::Context;
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Event {
    pub topic: &'static str,
    pub event: Box<dyn MessageDyn>,
}

#[derive(Clone)]
pub struct Events {
    tx: mpsc::Sender<Event>,
}

/// How long an event is retried while containerd is away before it is dropped (logged).
const GIVE_UP: Duration = Duration::from_secs(120);

impl Events {
    /// Starts the sending thread for `namespace`; `address` is containerd's ttrpc address
    /// (`TTRPC_ADDRESS`), for reconnecting.
    pub fn start(publisher: RemotePublisher, address: String, namespace: String) -> Events {
        let (tx, rx) = mpsc::channel::<Event>();
        std::thread::spawn(move || {
            let mut publisher = Some(publisher);
            for e in rx {
                let started = Instant::now();
                let mut pause = Duration::from_millis(50);
                loop {
                    if publisher.is_none() {
                        publisher = RemotePublisher::new(&address).ok();
                    }
                    let sent = match &publisher {
                        Some(p) => p
                            .publish(Context::default(), e.topic, &namespace, e.event.clone_box())
                            .map_err(|err| err.to_string()),
                        None => Err(format!("cannot connect to {address}")),
                    };
                    match sent {
                        Ok(()) => break,
                        Err(err) if started.elapsed() > GIVE_UP => {
                            tracing::error!(topic = e.topic, error = %err, "event dropped: containerd did not take it");
                            break;
                        }
                        Err(err) => {
                            tracing::debug!(topic = e.topic, error = %err, "event not sent; reconnecting");
                            publisher = None;
                            std::thread::sleep(pause);
                            pause = (pause * 2).min(Duration::from_secs(2));
                        }
                    }
                }
            }
        });
        Events { tx }
    }

    pub fn send(&self, topic: &'static str, event: impl MessageDyn) {
        let _ = self.tx.send(Event {
            topic,
            event: Box::new(event),
        });
    }
}
