use super::*;

fn creds(env: &[(&str, &str)]) -> CloudCredentials {
    CloudCredentials::new(
        CloudEnv::from_pairs(env.iter().map(|(k, v)| (k.to_string(), v.to_string()))),
        CloudEndpoints::default(),
        Duration::from_secs(2),
    )
}

#[tokio::test]
async fn a_host_that_is_not_the_providers_registry_gets_nothing_and_no_request_is_made() {
    // Static keys: an accepted host would go straight to (the real) ECR; a refused one must
    // fail before any request.
    let c = creds(&[
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "SECRET"),
    ]);
    for host in [
        "evil.example",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
        "127.0.0.1:5000",
    ] {
        let e = c.login(Provider::Aws, host).await.unwrap_err();
        assert!(
            matches!(e, CloudError::NotProviderRegistry { .. }),
            "{host}: {e}"
        );
        assert!(!e.to_string().contains("SECRET"));
    }
}

#[tokio::test]
async fn without_an_identity_in_the_environment_each_provider_says_what_is_missing() {
    let c = creds(&[]);
    let aws = c
        .login(
            Provider::Aws,
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        )
        .await
        .unwrap_err();
    assert!(matches!(aws, CloudError::NoIdentity { .. }), "{aws}");
    assert!(aws.to_string().contains("AWS_ROLE_ARN"), "{aws}");
    let azure = c
        .login(Provider::Azure, "myregistry.azurecr.io")
        .await
        .unwrap_err();
    assert!(matches!(azure, CloudError::NoIdentity { .. }), "{azure}");
    // A web identity token file that cannot be read fails closed, naming the file only.
    let c = creds(&[
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token"),
    ]);
    let e = c
        .login(
            Provider::Aws,
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        )
        .await
        .unwrap_err();
    assert!(matches!(e, CloudError::File { .. }), "{e}");
}

#[test]
fn only_the_cloud_variables_are_kept_and_debug_names_them_without_values() {
    let env = CloudEnv::from_pairs([
        ("AWS_SECRET_ACCESS_KEY".to_string(), "s3cr3t".to_string()),
        ("HOME".to_string(), "/root".to_string()),
    ]);
    assert_eq!(env.get("HOME"), None);
    let d = format!("{env:?}");
    assert!(
        d.contains("AWS_SECRET_ACCESS_KEY") && !d.contains("s3cr3t"),
        "{d}"
    );
    let login = CloudLogin {
        host: "h".into(),
        username: "AWS".into(),
        password: "pw-secret".into(),
    };
    assert!(!format!("{login:?}").contains("pw-secret"));
    assert_eq!(Provider::from_flux("generic"), None);
    assert_eq!(Provider::from_flux("aws"), Some(Provider::Aws));
}
