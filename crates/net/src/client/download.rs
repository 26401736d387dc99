//! Whole-body downloads of URLs that are not registry packages (a dependency given as a
//! tarball URL), with the same credentials, retries and error reporting as tarballs.

use crate::NetError;
use crate::client::RegistryClient;
use crate::client::retry::{status_error, transport_error, with_retries};

impl RegistryClient {
    /// Downloads `url` into memory (with the credential configured for it, retried on
    /// transport failures and 5xx); `what` names the package in errors.
    pub async fn download(&self, url: &str, what: &str) -> Result<Vec<u8>, NetError> {
        with_retries(self.config(), self.progress(), what, |_| async move {
            let response = self
                .get(url)
                .send()
                .await
                .map_err(|e| transport_error(&e, url, what))?;
            let status = response.status();
            if !status.is_success() {
                let registry = dx_formats::registry_url::registry_of_tarball_url(url).to_owned();
                return Err(status_error(
                    status,
                    response.headers(),
                    url,
                    &registry,
                    what,
                    || NetError::HttpStatus {
                        url: url.to_owned(),
                        what: what.to_owned(),
                        status: 404,
                    },
                ));
            }
            let stall = self.config().fetch_stall_timeout;
            let body = crate::client::stall::read_body(response, stall, url, what).await?;
            Ok(body.to_vec())
        })
        .await
    }
}
