//! Host names resolved once per host and shared, for every connection the HTTP client opens.
//!
//! Without it each new connection asks the system resolver on its own: a burst of connections
//! means a burst of parallel A/AAAA queries, some of which get dropped on their way (a NAT's
//! conntrack race, a rate-limited forwarder), and glibc then waits its 5-second timeout before
//! retrying, sometimes twice; an install of any size took 10 s against a real registry.
//!
//! Here every host is looked up by one `getaddrinfo` (the system's own semantics: `/etc/hosts`,
//! `nsswitch.conf`, search domains, `resolv.conf` options) on a plain thread, shared by every
//! connection that asks while it is in flight, and its answer is kept for [`ANSWER_TTL`]. If the
//! lookup has not answered after [`HEDGE_AFTER`], a second one is started (new socket, new query
//! id) and the first answer wins: a dropped query costs about a second, not five or ten. A failed
//! lookup is not kept: the request's own retry asks again. IP-literal hosts never get here
//! (hyper's connector parses them itself), and [`SharedResolver`] answers them directly anyway.
//! The process has one resolver ([`SharedResolver::system`]), shared by every client and every
//! runtime: a lookup runs on threads of its own and answers through a oneshot channel.
//!
//! Why `getaddrinfo` and not a resolver crate (hickory, reqwest's `hickory-dns`): the 10 s came
//! from the burst, which one lookup per host removes whichever resolver answers it; the hedge
//! covers the residual dropped query. `getaddrinfo` keeps what users and admins configured
//! (nsswitch modules, `single-request`/`timeout` options, split DNS) and what npm does through
//! node's `dns.lookup`; a resolver crate reimplements `resolv.conf`/`/etc/hosts` handling,
//! bypasses nsswitch, defaults to 5-second timeouts as well, and adds a large dependency.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// How long a looked-up answer is used (the process is usually gone long before; a long-running
/// `dx registry serve --upstream` looks its upstream up again now and then).
pub(crate) const ANSWER_TTL: Duration = Duration::from_secs(300);

/// How long one lookup may take before a second, parallel one is started.
pub(crate) const HEDGE_AFTER: Duration = Duration::from_secs(1);

/// Lookups started for one host at most (the first and its hedges).
pub(crate) const MAX_ATTEMPTS: usize = 3;

/// A blocking host lookup: the addresses of `host` (ports are irrelevant) or why not.
pub(crate) type Lookup = Arc<dyn Fn(&str) -> io::Result<Vec<IpAddr>> + Send + Sync>;

/// A host name that could not be resolved; the message names the host.
#[derive(Clone, Debug, thiserror::Error)]
#[error("cannot resolve host `{host}`: {reason}")]
pub(crate) struct LookupError {
    /// The host asked for.
    pub(crate) host: String,
    /// What the system resolver said.
    pub(crate) reason: String,
}

type Answer = Result<Arc<[IpAddr]>, LookupError>;
type InFlight = Shared<BoxFuture<'static, Answer>>;

enum Entry {
    /// A lookup in flight, shared by everyone asking meanwhile.
    Pending(InFlight),
    /// An answer and when it stops being used.
    Done(Arc<[IpAddr]>, Instant),
}

/// The cache: host (lower case) → its answer or the lookup in flight.
type Hosts = Arc<Mutex<HashMap<String, Entry>>>;

/// A [`Resolve`] that looks each host up once (see the module documentation). Cheap to share.
pub(crate) struct SharedResolver {
    lookup: Lookup,
    hosts: Hosts,
}

impl SharedResolver {
    /// A resolver asking `lookup`.
    pub(crate) fn new(lookup: Lookup) -> Self {
        Self {
            lookup,
            hosts: Hosts::default(),
        }
    }

    /// The process's resolver on the system's `getaddrinfo`: every client shares its answers.
    pub(crate) fn system() -> Arc<Self> {
        static SYSTEM: OnceLock<Arc<SharedResolver>> = OnceLock::new();
        SYSTEM
            .get_or_init(|| Arc::new(Self::new(Arc::new(getaddrinfo))))
            .clone()
    }

    /// The addresses of `host`: from the cache, from the lookup already in flight, or from a
    /// new one.
    pub(crate) fn addresses(&self, host: &str) -> BoxFuture<'static, Answer> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return futures_util::future::ready(Ok(Arc::from([ip]))).boxed();
        }
        let host = host.to_ascii_lowercase();
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        let in_flight = match hosts.get(&host) {
            Some(Entry::Done(addresses, until)) if Instant::now() < *until => {
                return futures_util::future::ready(Ok(addresses.clone())).boxed();
            }
            Some(Entry::Pending(in_flight)) => in_flight.clone(),
            _ => {
                let in_flight = hedged_lookup(self.lookup.clone(), host.clone())
                    .boxed()
                    .shared();
                hosts.insert(host.clone(), Entry::Pending(in_flight.clone()));
                in_flight
            }
        };
        drop(hosts);
        let hosts = Arc::downgrade(&self.hosts);
        async move {
            let answer = in_flight.clone().await;
            if let Some(hosts) = hosts.upgrade() {
                settle(&hosts, host, &in_flight, &answer);
            }
            answer
        }
        .boxed()
    }
}

/// Records what `in_flight` for `host` answered, if the entry is still that lookup: a success
/// is kept for [`ANSWER_TTL`], a failure forgotten (the next request asks again).
fn settle(
    hosts: &Mutex<HashMap<String, Entry>>,
    host: String,
    in_flight: &InFlight,
    answer: &Answer,
) {
    let mut hosts = hosts.lock().unwrap_or_else(PoisonError::into_inner);
    if !matches!(hosts.get(&host), Some(Entry::Pending(p)) if p.ptr_eq(in_flight)) {
        return;
    }
    match answer {
        Ok(addresses) => {
            hosts.insert(
                host,
                Entry::Done(addresses.clone(), Instant::now() + ANSWER_TTL),
            );
        }
        Err(_) => {
            hosts.remove(&host);
        }
    }
}

impl Resolve for SharedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let answer = self.addresses(name.as_str());
        Box::pin(async move {
            let addresses = answer.await?;
            // Port 0: the connector puts the URL's port in.
            let addrs: Addrs = Box::new(
                addresses
                    .iter()
                    .map(|ip| SocketAddr::new(*ip, 0))
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
            Ok(addrs)
        })
    }
}

/// One lookup of `host`, run by a thread of its own so it depends on no runtime (the resolver
/// is shared by every runtime in the process): see [`hedge`].
fn hedged_lookup(lookup: Lookup, host: String) -> impl std::future::Future<Output = Answer> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let for_thread = host.clone();
    let spawned = std::thread::Builder::new()
        .name("dx-dns".into())
        .spawn(move || {
            // Nobody is waiting any more if this fails: nothing to do.
            let _ = tx.send(hedge(&lookup, &for_thread));
        });
    async move {
        let stopped = |reason: String| LookupError {
            host: host.clone(),
            reason,
        };
        match spawned {
            Err(error) => Err(stopped(format!("cannot start a lookup thread: {error}"))),
            Ok(_) => rx
                .await
                .unwrap_or_else(|_| Err(stopped("the lookup thread stopped".into()))),
        }
    }
}

/// Looks `host` up, hedged: another attempt starts every [`HEDGE_AFTER`] while none has answered
/// (at most [`MAX_ATTEMPTS`]); the first success wins. A failure ends the lookup once no attempt
/// is left running, and no new attempt starts after one failed (a name that does not exist fails
/// at once, not after the hedges). Each attempt runs on a plain thread: one stuck in the system
/// resolver's timeouts holds up neither a runtime's shutdown nor the process's exit.
fn hedge(lookup: &Lookup, host: &str) -> Answer {
    use std::sync::mpsc::RecvTimeoutError;
    let (tx, rx) = std::sync::mpsc::channel();
    start_attempt(lookup, host, &tx);
    let (mut started, mut running) = (1, 1);
    let mut failure = None;
    loop {
        let next = if failure.is_none() && started < MAX_ATTEMPTS {
            match rx.recv_timeout(HEDGE_AFTER) {
                Ok(next) => next,
                Err(RecvTimeoutError::Timeout) => {
                    start_attempt(lookup, host, &tx);
                    started += 1;
                    running += 1;
                    continue;
                }
                // `tx` is held here: cannot happen.
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(next) => next,
                Err(_) => break,
            }
        };
        match next {
            Ok(addresses) => return Ok(addresses),
            Err(error) => {
                running -= 1;
                failure = Some(error);
                if running == 0 {
                    break;
                }
            }
        }
    }
    Err(LookupError {
        host: host.to_owned(),
        reason: failure.map_or_else(|| "no answer".to_owned(), |e: io::Error| e.to_string()),
    })
}

type AttemptAnswer = io::Result<Arc<[IpAddr]>>;

/// Runs `lookup(host)` on a thread of its own and sends its answer to `tx`.
fn start_attempt(lookup: &Lookup, host: &str, tx: &std::sync::mpsc::Sender<AttemptAnswer>) {
    let (lookup, host, sender) = (lookup.clone(), host.to_owned(), tx.clone());
    let spawned = std::thread::Builder::new()
        .name("dx-dns".into())
        .spawn(move || {
            let answer = lookup(&host).and_then(|addresses| {
                if addresses.is_empty() {
                    Err(io::Error::other("no addresses"))
                } else {
                    Ok(Arc::from(addresses))
                }
            });
            // Another attempt may have answered first: nobody to tell.
            let _ = sender.send(answer);
        });
    if let Err(error) = spawned {
        let _ = tx.send(Err(error));
    }
}

/// The system resolver (`getaddrinfo`, through the standard library).
fn getaddrinfo(host: &str) -> io::Result<Vec<IpAddr>> {
    let mut addresses = Vec::new();
    for address in (host, 0).to_socket_addrs()? {
        if !addresses.contains(&address.ip()) {
            addresses.push(address.ip());
        }
    }
    Ok(addresses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counting(
        answer: impl Fn(&str) -> io::Result<Vec<IpAddr>> + Send + Sync + 'static,
    ) -> (SharedResolver, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let lookup: Lookup = Arc::new(move |host: &str| {
            counter.fetch_add(1, Ordering::SeqCst);
            answer(host)
        });
        (SharedResolver::new(lookup), calls)
    }

    fn loopback(_: &str) -> io::Result<Vec<IpAddr>> {
        // Slow enough that every caller below asks while the lookup is in flight.
        std::thread::sleep(Duration::from_millis(50));
        Ok(vec![IpAddr::from([127, 0, 0, 1])])
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_one_lookup_and_later_ones_the_answer() {
        let (resolver, calls) = counting(loopback);
        let resolver = Arc::new(resolver);
        let callers: Vec<_> = (0..32)
            .map(|_| {
                let resolver = resolver.clone();
                tokio::spawn(async move { resolver.addresses("Registry.Example").await })
            })
            .collect();
        for caller in callers {
            let addresses = caller.await.unwrap().unwrap();
            assert_eq!(&*addresses, &[IpAddr::from([127, 0, 0, 1])]);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Cached: no second lookup.
        resolver.addresses("registry.example").await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn ip_literals_are_never_looked_up() {
        let (resolver, calls) = counting(loopback);
        let v4 = resolver.addresses("127.0.0.1").await.unwrap();
        let v6 = resolver.addresses("[::1]").await.unwrap();
        assert_eq!(&*v4, &[IpAddr::from([127, 0, 0, 1])]);
        assert_eq!(&*v6, &["::1".parse::<IpAddr>().unwrap()]);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_failure_names_the_host_and_is_not_kept() {
        let (resolver, calls) = counting(|_| Err(io::Error::other("Name or service not known")));
        let error = resolver.addresses("nowhere.invalid").await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot resolve host `nowhere.invalid`: Name or service not known"
        );
        // A failure ends the lookup at once (no hedges after it) and the next caller asks again.
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        resolver.addresses("nowhere.invalid").await.unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_empty_answer_is_a_failure() {
        let (resolver, _) = counting(|_| Ok(Vec::new()));
        let error = resolver.addresses("empty.example").await.unwrap_err();
        assert_eq!(error.host, "empty.example");
    }

    #[tokio::test]
    async fn a_stuck_lookup_is_hedged_and_the_first_answer_wins() {
        let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (resolver, calls) = counting(move |_| {
            if first.swap(false, Ordering::SeqCst) {
                // A dropped query: the system resolver would wait 5 s here.
                std::thread::sleep(Duration::from_secs(5));
                return Err(io::Error::other("timed out"));
            }
            Ok(vec![IpAddr::from([127, 0, 0, 1])])
        });
        let started = Instant::now();
        let addresses = resolver.addresses("slow.example").await.unwrap();
        assert_eq!(&*addresses, &[IpAddr::from([127, 0, 0, 1])]);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[test]
    fn a_lookup_started_in_a_runtime_since_dropped_still_answers_another() {
        let (resolver, calls) = counting(|_| {
            std::thread::sleep(Duration::from_millis(200));
            Ok(vec![IpAddr::from([127, 0, 0, 1])])
        });
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        };
        // The first runtime gives up on the lookup and goes away while it is in flight...
        let first = runtime();
        let gave_up = first.block_on(async {
            tokio::time::timeout(
                Duration::from_millis(20),
                resolver.addresses("shared.example"),
            )
            .await
            .is_err()
        });
        assert!(gave_up);
        drop(first);
        // ...and the next one gets the same lookup's answer.
        let addresses = runtime()
            .block_on(resolver.addresses("shared.example"))
            .unwrap();
        assert_eq!(&*addresses, &[IpAddr::from([127, 0, 0, 1])]);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_resolver_answers_reqwest_with_port_zero() {
        let (resolver, _) = counting(loopback);
        let name: Name = "pkg.example".parse().unwrap();
        let addrs: Vec<SocketAddr> = resolver.resolve(name).await.unwrap().collect();
        assert_eq!(addrs, vec![SocketAddr::from(([127, 0, 0, 1], 0))]);
    }
}
