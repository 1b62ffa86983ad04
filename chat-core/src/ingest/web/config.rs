//! Settings of URL ingest. Every limit is a named setting with a documented default.

use std::time::Duration;

use ipnet::IpNet;

/// Settings of URL ingest.
///
/// | setting | default | what |
/// |---|---|---|
/// | `user_agent` | `ChatEngineBot/0.1` | `User-Agent` header and the robots.txt agent name |
/// | `connect_timeout` | 10 s | TCP connect plus TLS handshake, per connection |
/// | `total_timeout` | 30 s | the whole fetch: robots.txt, rate-limit wait, every redirect hop and the body |
/// | `max_body_bytes` | 5 MiB | largest body, enforced while streaming |
/// | `max_url_len` | 2048 | longest URL in bytes |
/// | `max_redirects` | 5 | most redirect hops followed |
/// | `extra_ports` | none | ports allowed besides 80 (http) and 443 (https) |
/// | `allow_any_port` | false | allow every port |
/// | `allow_loopback` | false | let the SSRF guard pass loopback addresses (tests, trusted deployments) |
/// | `allowed_networks` | none | networks the SSRF guard lets through although they are blocked ranges |
/// | `respect_robots` | true | honour robots.txt |
/// | `robots_ttl` | 1 h | how long a fetched robots.txt is kept |
/// | `robots_error_ttl` | 10 min | how long a host whose robots.txt failed with 5xx or was unreachable is treated as disallowed |
/// | `max_robots_bytes` | 500 KiB | robots.txt is read up to this size (the rest is ignored) |
/// | `per_host_interval` | 1 s | least time between two requests to one host |
/// | `max_crawl_delay` | 10 s | cap on a robots.txt `Crawl-delay` |
/// | `cache_ttl` | 1 h | how long a fetched page is served from the cache before revalidation |
/// | `negative_cache_ttl` | 5 min | how long a failure is remembered |
/// | `max_text_bytes` | 1 MiB | extracted text is cut at this size |
/// | `chunk_target_tokens` | 800 | target size of a chunk |
/// | `chunk_overlap_tokens` | 80 | text repeated from the end of the previous chunk of the same section |
/// | `max_chunks` | 2000 | most chunks per page |
/// | `max_concurrent_jobs` | 4 | URL jobs processed at once by one ingestor |
/// | `js_render_min_chars` | 200 | with feature `js-render`: render with Chromium when the plain fetch yields fewer characters |
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WebConfig {
    /// `User-Agent` header and robots.txt agent.
    pub user_agent: String,
    /// Connect (TCP + TLS) timeout.
    pub connect_timeout: Duration,
    /// Whole-fetch timeout.
    pub total_timeout: Duration,
    /// Largest body in bytes.
    pub max_body_bytes: u64,
    /// Longest URL in bytes.
    pub max_url_len: usize,
    /// Most redirect hops.
    pub max_redirects: usize,
    /// Ports allowed besides the scheme's default.
    pub extra_ports: Vec<u16>,
    /// Allow every port.
    pub allow_any_port: bool,
    /// Let loopback addresses through the SSRF guard.
    pub allow_loopback: bool,
    /// Networks let through the SSRF guard although they are in blocked ranges.
    pub allowed_networks: Vec<IpNet>,
    /// Honour robots.txt.
    pub respect_robots: bool,
    /// robots.txt cache lifetime.
    pub robots_ttl: Duration,
    /// Disallow period after a 5xx or unreachable robots.txt.
    pub robots_error_ttl: Duration,
    /// robots.txt read limit in bytes.
    pub max_robots_bytes: u64,
    /// Least time between requests to one host.
    pub per_host_interval: Duration,
    /// Cap on `Crawl-delay`.
    pub max_crawl_delay: Duration,
    /// Page cache lifetime.
    pub cache_ttl: Duration,
    /// Failure cache lifetime.
    pub negative_cache_ttl: Duration,
    /// Extracted text limit in bytes.
    pub max_text_bytes: usize,
    /// Target chunk size in tokens.
    pub chunk_target_tokens: u32,
    /// Chunk overlap in tokens.
    pub chunk_overlap_tokens: u32,
    /// Most chunks per page.
    pub max_chunks: usize,
    /// URL jobs processed at once.
    pub max_concurrent_jobs: usize,
    /// Text length under which a page is rendered with Chromium (feature `js-render`).
    pub js_render_min_chars: usize,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            user_agent: "ChatEngineBot/0.1".into(),
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
            max_body_bytes: 5 * 1024 * 1024,
            max_url_len: 2048,
            max_redirects: 5,
            extra_ports: Vec::new(),
            allow_any_port: false,
            allow_loopback: false,
            allowed_networks: Vec::new(),
            respect_robots: true,
            robots_ttl: Duration::from_secs(3600),
            robots_error_ttl: Duration::from_secs(600),
            max_robots_bytes: 500 * 1024,
            per_host_interval: Duration::from_secs(1),
            max_crawl_delay: Duration::from_secs(10),
            cache_ttl: Duration::from_secs(3600),
            negative_cache_ttl: Duration::from_secs(300),
            max_text_bytes: 1024 * 1024,
            chunk_target_tokens: 800,
            chunk_overlap_tokens: 80,
            max_chunks: 2000,
            max_concurrent_jobs: 4,
            js_render_min_chars: 200,
        }
    }
}

impl WebConfig {
    /// Sets the user agent.
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = agent.into();
        self
    }
    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
    /// Sets the whole-fetch timeout.
    pub fn total_timeout(mut self, timeout: Duration) -> Self {
        self.total_timeout = timeout;
        self
    }
    /// Sets the body size cap.
    pub fn max_body_bytes(mut self, bytes: u64) -> Self {
        self.max_body_bytes = bytes;
        self
    }
    /// Sets the URL length limit.
    pub fn max_url_len(mut self, len: usize) -> Self {
        self.max_url_len = len;
        self
    }
    /// Sets the redirect limit.
    pub fn max_redirects(mut self, hops: usize) -> Self {
        self.max_redirects = hops;
        self
    }
    /// Allows one more port.
    pub fn extra_port(mut self, port: u16) -> Self {
        self.extra_ports.push(port);
        self
    }
    /// Allows every port.
    pub fn allow_any_port(mut self, allow: bool) -> Self {
        self.allow_any_port = allow;
        self
    }
    /// Lets loopback addresses through the SSRF guard.
    pub fn allow_loopback(mut self, allow: bool) -> Self {
        self.allow_loopback = allow;
        self
    }
    /// Lets a network through the SSRF guard.
    pub fn allow_network(mut self, net: IpNet) -> Self {
        self.allowed_networks.push(net);
        self
    }
    /// Turns robots.txt handling on or off.
    pub fn respect_robots(mut self, respect: bool) -> Self {
        self.respect_robots = respect;
        self
    }
    /// Sets the robots.txt cache lifetime.
    pub fn robots_ttl(mut self, ttl: Duration) -> Self {
        self.robots_ttl = ttl;
        self
    }
    /// Sets the disallow period after a failed robots.txt.
    pub fn robots_error_ttl(mut self, ttl: Duration) -> Self {
        self.robots_error_ttl = ttl;
        self
    }
    /// Sets the least time between requests to one host.
    pub fn per_host_interval(mut self, interval: Duration) -> Self {
        self.per_host_interval = interval;
        self
    }
    /// Sets the cap on `Crawl-delay`.
    pub fn max_crawl_delay(mut self, delay: Duration) -> Self {
        self.max_crawl_delay = delay;
        self
    }
    /// Sets the page cache lifetime.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }
    /// Sets the failure cache lifetime.
    pub fn negative_cache_ttl(mut self, ttl: Duration) -> Self {
        self.negative_cache_ttl = ttl;
        self
    }
    /// Sets the extracted text limit.
    pub fn max_text_bytes(mut self, bytes: usize) -> Self {
        self.max_text_bytes = bytes;
        self
    }
    /// Sets the chunk target and overlap in tokens.
    pub fn chunking(mut self, target_tokens: u32, overlap_tokens: u32) -> Self {
        self.chunk_target_tokens = target_tokens.max(1);
        self.chunk_overlap_tokens = overlap_tokens.min(target_tokens / 2);
        self
    }
    /// Sets how many jobs run at once.
    pub fn max_concurrent_jobs(mut self, jobs: usize) -> Self {
        self.max_concurrent_jobs = jobs.max(1);
        self
    }
    /// Sets the text length under which a page is rendered with Chromium.
    pub fn js_render_min_chars(mut self, chars: usize) -> Self {
        self.js_render_min_chars = chars;
        self
    }
    /// Whether `port` may be used with `scheme`.
    pub(crate) fn port_allowed(&self, scheme: &str, port: u16) -> bool {
        let default = match scheme {
            "http" => 80,
            "https" => 443,
            _ => return false,
        };
        self.allow_any_port || port == default || self.extra_ports.contains(&port)
    }
}
