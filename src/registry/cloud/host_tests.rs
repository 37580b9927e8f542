use proptest::prelude::*;

use super::*;

fn ecr_of(host: &str) -> Option<EcrHost> {
    match parse(Provider::Aws, host) {
        Ok(CloudRegistry::Ecr(e)) => Some(e),
        _ => None,
    }
}

#[test]
fn ecr_hosts_give_their_account_region_partition_and_fips() {
    let e = ecr_of("123456789012.dkr.ecr.us-east-1.amazonaws.com").unwrap();
    assert_eq!(
        (e.account.as_str(), e.region.as_str(), e.domain, e.fips),
        ("123456789012", "us-east-1", "amazonaws.com", false)
    );
    let e = ecr_of("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com").unwrap();
    assert_eq!((e.region.as_str(), e.fips), ("us-gov-west-1", true));
    let e = ecr_of("210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn").unwrap();
    assert_eq!(
        (e.account.as_str(), e.region.as_str(), e.domain),
        ("210987654321", "cn-north-1", "amazonaws.com.cn")
    );
    // Case does not matter in DNS.
    assert!(ecr_of("123456789012.DKR.ECR.EU-WEST-1.AMAZONAWS.COM").is_some());
    assert_eq!(
        CloudRegistry::Ecr(ecr_of("123456789012.dkr.ecr.ap-southeast-2.amazonaws.com").unwrap())
            .to_string(),
        "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com"
    );
}

#[test]
fn hosts_that_only_contain_or_resemble_a_cloud_registry_are_refused() {
    for host in [
        // Flux's unanchored ECR pattern matches these two.
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
        "evil.example123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "x.123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com:443",
        "user@123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "12345678901.dkr.ecr.us-east-1.amazonaws.com",
        "1234567890123.dkr.ecr.us-east-1.amazonaws.com",
        "123456789012.dkr.ecr.amazonaws.com",
        "123456789012.dkr.ecr.us-east.amazonaws.com",
        "123456789012.dkr.ecr.cn-north-1.amazonaws.com",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.cn",
        "123456789012.dkr.ecr-evil.us-east-1.amazonaws.com",
        "public.ecr.aws",
        "evil.example",
        "",
    ] {
        assert!(ecr_of(host).is_none(), "{host:?} parsed as ECR");
    }
    for host in [
        "gcr.io.evil.example",
        "evilgcr.io",
        "a.b.gcr.io",
        "us-docker.pkg.dev.evil.example",
        "a.us-docker.pkg.dev",
        "docker.pkg.dev",
        "gcr.io:443",
    ] {
        assert!(
            parse(Provider::Gcp, host).is_err(),
            "{host:?} parsed as GCP"
        );
    }
    for host in [
        "myregistry.azurecr.io.evil.example",
        "azurecr.io",
        "a.b.azurecr.io",
        "myregistry.azurecr.io:443",
        "my_registry.azurecr.io",
    ] {
        assert!(
            parse(Provider::Azure, host).is_err(),
            "{host:?} parsed as ACR"
        );
    }
    // Another provider's host is not this provider's.
    assert!(parse(Provider::Aws, "myregistry.azurecr.io").is_err());
    assert!(parse(Provider::Azure, "gcr.io").is_err());
}

#[test]
fn gcp_and_acr_hosts() {
    for host in [
        "gcr.io",
        "eu.gcr.io",
        "europe-west1-docker.pkg.dev",
        "us-docker.pkg.dev",
    ] {
        assert_eq!(
            parse(Provider::Gcp, host).unwrap(),
            CloudRegistry::Gcp { host: host.into() }
        );
    }
    for (host, cloud) in [
        ("myregistry.azurecr.io", AzureCloud::Public),
        ("myregistry.azurecr.cn", AzureCloud::China),
        ("myregistry.azurecr.us", AzureCloud::Government),
    ] {
        assert_eq!(
            parse(Provider::Azure, host).unwrap(),
            CloudRegistry::Acr {
                host: host.into(),
                cloud
            }
        );
    }
    assert_eq!(
        AzureCloud::China.authority(),
        "https://login.chinacloudapi.cn"
    );
}

#[test]
fn a_refused_host_is_shown_bounded_and_without_odd_characters() {
    let host = format!("evil\u{7}\n{}", "a".repeat(500));
    let msg = parse(Provider::Aws, &host).unwrap_err().to_string();
    assert!(!msg.contains('\n') && !msg.contains('\u{7}'), "{msg}");
    assert!(msg.len() < 250, "{msg}");
}

proptest! {
    /// Whatever the input, parsing never panics, and a parsed host is exactly the input
    /// (lower-cased): nothing is dropped, so nothing else can receive the credential.
    #[test]
    fn parsing_never_panics_and_keeps_the_whole_host(host in "\\PC{0,80}", p in 0..3u8) {
        let provider = [Provider::Aws, Provider::Gcp, Provider::Azure][p as usize];
        if let Ok(r) = parse(provider, &host) {
            prop_assert_eq!(r.to_string(), host.to_ascii_lowercase());
        }
    }

    /// An ECR host with anything appended or prepended is refused.
    #[test]
    fn ecr_with_a_prefix_or_suffix_is_refused(extra in "[a-z0-9.:@/-]{1,20}") {
        let host = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
        let suffixed = format!("{}{}", host, extra);
        prop_assert!(parse(Provider::Aws, &suffixed).is_err());
        let prefixed = format!("{extra}{host}");
        if let Ok(CloudRegistry::Ecr(e)) = parse(Provider::Aws, &prefixed) {
            // Only a digit prefix that still makes 12 digits could parse, and it cannot.
            prop_assert_eq!(e.account.len(), 12);
            prop_assert_eq!(CloudRegistry::Ecr(e).to_string(), prefixed);
        }
    }
}
