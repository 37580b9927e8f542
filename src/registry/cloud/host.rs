//! Which cloud registry a host is, parsed strictly: the host decides where the cloud
//! credentials go, so a host that is not exactly the provider's registry is refused (a tenant's
//! `provider: aws` with `url: oci://evil.example/x`, or `…amazonaws.com.evil.example`, must not
//! make the controller send its AWS identity anywhere but AWS).
//!
//! Unlike Flux's ECR pattern (unanchored, so it also matches a host that merely *contains* an
//! ECR host), every pattern here must match the whole host, with no port and no user info.

use std::fmt;

use super::error::{CloudError, Provider};

/// A registry host of one cloud, with what its credentials are issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudRegistry {
    /// `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`.
    Ecr(EcrHost),
    /// `gcr.io`, `<region>.gcr.io`, `<location>-docker.pkg.dev`.
    Gcp {
        /// The host.
        host: String,
    },
    /// `<name>.azurecr.io|.cn|.us|.de`.
    Acr {
        /// The host.
        host: String,
        /// Which Azure cloud it is in (where its Entra ID tokens come from).
        cloud: AzureCloud,
    },
}

/// An ECR private registry host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrHost {
    /// The registry's 12-digit AWS account.
    pub account: String,
    /// Its region, e.g. `us-east-1`.
    pub region: String,
    /// `amazonaws.com` or, for the China partition, `amazonaws.com.cn`.
    pub domain: &'static str,
    /// A FIPS endpoint (`dkr.ecr-fips`): its API calls go to FIPS endpoints too.
    pub fips: bool,
}

/// The Azure clouds an ACR host can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AzureCloud {
    /// `azurecr.io`.
    Public,
    /// `azurecr.cn` (operated by 21Vianet).
    China,
    /// `azurecr.us`.
    Government,
    /// `azurecr.de` (the retired German cloud: still parsed as Flux does, authenticated as
    /// the public cloud).
    Germany,
}

impl AzureCloud {
    /// The Entra ID authority of this cloud.
    pub fn authority(self) -> &'static str {
        match self {
            AzureCloud::China => "https://login.chinacloudapi.cn",
            AzureCloud::Government => "https://login.microsoftonline.us",
            AzureCloud::Public | AzureCloud::Germany => "https://login.microsoftonline.com",
        }
    }

    /// The scope of the Entra ID token exchanged at the registry (its Resource Manager).
    pub fn scope(self) -> &'static str {
        match self {
            AzureCloud::China => "https://management.chinacloudapi.cn/.default",
            AzureCloud::Government => "https://management.usgovcloudapi.net/.default",
            AzureCloud::Public | AzureCloud::Germany => "https://management.azure.com/.default",
        }
    }
}

impl fmt::Display for CloudRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloudRegistry::Ecr(e) => write!(
                f,
                "{}.dkr.ecr{}.{}.{}",
                e.account,
                if e.fips { "-fips" } else { "" },
                e.region,
                e.domain
            ),
            CloudRegistry::Gcp { host } | CloudRegistry::Acr { host, .. } => f.write_str(host),
        }
    }
}

/// Longest host accepted (DNS allows 253).
const MAX_HOST: usize = 253;

/// Parses `host` (the registry part of a reference, lower-cased by the caller or not) as a
/// registry of `provider`.
pub fn parse(provider: Provider, host: &str) -> Result<CloudRegistry, CloudError> {
    let refuse = || CloudError::NotProviderRegistry {
        provider,
        host: shown(host),
    };
    if host.is_empty() || host.len() > MAX_HOST {
        return Err(refuse());
    }
    let host = host.to_ascii_lowercase();
    if !host.split('.').all(is_dns_label) {
        return Err(refuse());
    }
    let parsed = match provider {
        Provider::Aws => ecr(&host).map(CloudRegistry::Ecr),
        Provider::Gcp => gcp(&host).then(|| CloudRegistry::Gcp { host: host.clone() }),
        Provider::Azure => acr(&host).map(|cloud| CloudRegistry::Acr {
            host: host.clone(),
            cloud,
        }),
    };
    parsed.ok_or_else(refuse)
}

/// The host as it may be shown in a message: bounded, and only DNS characters (it came from a
/// tenant's object).
fn shown(host: &str) -> String {
    let clean: String = host
        .chars()
        .take(80)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':') {
                c
            } else {
                '?'
            }
        })
        .collect();
    if host.chars().count() > 80 {
        format!("{clean}…")
    } else {
        clean
    }
}

/// One DNS label: 1-63 of `[a-z0-9-]`, not starting or ending with `-`.
fn is_dns_label(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && l.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !l.starts_with('-')
        && !l.ends_with('-')
}

fn ecr(host: &str) -> Option<EcrHost> {
    let (rest, domain) = if let Some(r) = host.strip_suffix(".amazonaws.com.cn") {
        (r, "amazonaws.com.cn")
    } else {
        (host.strip_suffix(".amazonaws.com")?, "amazonaws.com")
    };
    let labels: Vec<&str> = rest.split('.').collect();
    let [account, "dkr", ecr, region] = labels.as_slice() else {
        return None;
    };
    let fips = match *ecr {
        "ecr" => false,
        "ecr-fips" => true,
        _ => return None,
    };
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    // China's regions are `cn-…`, and only there.
    let region_ok =
        is_aws_region(region) && (region.starts_with("cn-") == (domain != "amazonaws.com"));
    (account_ok && region_ok).then(|| EcrHost {
        account: account.to_string(),
        region: region.to_string(),
        domain,
        fips,
    })
}

/// `us-east-1`, `ap-southeast-2`, `us-gov-west-1`, `cn-north-1`: letters-…-digits.
fn is_aws_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.len() <= 4
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1]
            .parse::<u8>()
            .is_ok_and(|n| (1..=20).contains(&n))
}

fn gcp(host: &str) -> bool {
    if host == "gcr.io" {
        return true;
    }
    // `us.gcr.io`, `eu.gcr.io`, …: one label before `gcr.io`.
    if let Some(region) = host.strip_suffix(".gcr.io") {
        return is_dns_label(region);
    }
    // `<location>-docker.pkg.dev`: one label ending in `-docker`.
    host.strip_suffix("-docker.pkg.dev")
        .is_some_and(|loc| is_dns_label(loc) && !loc.contains('.'))
}

fn acr(host: &str) -> Option<AzureCloud> {
    let (name, cloud) = [
        (".azurecr.io", AzureCloud::Public),
        (".azurecr.cn", AzureCloud::China),
        (".azurecr.us", AzureCloud::Government),
        (".azurecr.de", AzureCloud::Germany),
    ]
    .into_iter()
    .find_map(|(suffix, cloud)| host.strip_suffix(suffix).map(|n| (n, cloud)))?;
    // One label: `<registry>.azurecr.io` (ACR names are 5-50 alphanumerics; regional
    // data endpoints `<registry>.<region>.data.azurecr.io` are not registries).
    (is_dns_label(name) && !name.contains('.')).then_some(cloud)
}

#[cfg(test)]
#[path = "host_tests.rs"]
mod tests;
