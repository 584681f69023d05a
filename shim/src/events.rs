//! Task events to containerd (`/tasks/create`, `/tasks/exit`, ...), sent in order from one
//! thread so that no request waits on containerd's event service.

use containerd_shim::protos::protobuf::MessageDyn;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::Context;
use std::sync::mpsc;

pub struct Event {
    pub topic: &'static str,
    pub event: Box<dyn MessageDyn>,
}

#[derive(Clone)]
pub struct Events {
    tx: mpsc::Sender<Event>,
}

impl Events {
    /// Starts the sending thread for `namespace`.
    pub fn start(publisher: RemotePublisher, namespace: String) -> Events {
        let (tx, rx) = mpsc::channel::<Event>();
        std::thread::spawn(move || {
            for e in rx {
                if let Err(err) =
                    publisher.publish(Context::default(), e.topic, &namespace, e.event)
                {
                    tracing::warn!(topic = e.topic, error = %err, "cannot publish the event");
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
