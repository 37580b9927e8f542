//! Sources with `spec.provider: aws | gcp | azure` are audited with the controller's own cloud
//! identity, against emulators on 127.0.0.1: moto (STS and ECR, with its IAM signature and
//! policy checks on) for AWS, and token servers written here for Google and Azure that speak
//! the documented protocols and record what they receive. Each registry is Debian's
//! docker-registry behind Basic auth accepting only the credential the cloud issued, aliased
//! (by the test-only endpoints file) to a real-looking cloud registry host. Each test runs its
//! own controller, with that cloud's identity in its environment, auditing only its namespace.

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{ensure, Context as _, Result};
use provenance_e2e::cloud::{AuthRegistry, Received, TokenServer};
use provenance_e2e::{free_port, repo_root, run, Ctx};
use serde_json::{json, Value};

const ACCOUNT: &str = "123456789012";
const ECR_HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

fn tool(name: &str) -> Result<String> {
    let tools = repo_root().join("hack/tools.sh");
    let check = std::process::Command::new(&tools)
        .args(["check", name])
        .status()?;
    ensure!(check.success(), "{name} is not installed: run `make tools`");
    let out = std::process::Command::new(&tools)
        .args(["path", name])
        .output()?;
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// moto in server mode, recording every request, with IAM authentication enforced after the
/// first `free_actions` actions (the test's own set-up and the unsigned STS call).
struct Moto {
    url: String,
    recording: std::path::PathBuf,
    python: String,
    _child: tokio::process::Child,
}

impl Moto {
    async fn start(ctx: &Ctx, free_actions: u32) -> Result<Moto> {
        let python = tool("moto")?;
        let port = free_port()?;
        let recording = ctx.path("moto-recording.jsonl");
        let child = tokio::process::Command::new(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .env("MOTO_ENABLE_RECORDING", "True")
            .env("MOTO_RECORDER_FILEPATH", &recording)
            .env("INITIAL_NO_AUTH_ACTION_COUNT", free_actions.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(ctx.path("moto.log"))?)
            .kill_on_drop(true)
            .spawn()
            .context("starting moto")?;
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while reqwest::get(format!("{url}/moto-api/")).await.is_err() {
            ensure!(
                Instant::now() < deadline,
                "moto did not start: {}",
                std::fs::read_to_string(ctx.path("moto.log"))?
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok(Moto {
            url,
            recording,
            python,
            _child: child,
        })
    }

    /// Runs boto3 (moto's own dependency) against moto: the test's AWS set-up.
    async fn boto3(&self, script: &str) -> Result<String> {
        let out = tokio::process::Command::new(&self.python)
            .arg("-c")
            .arg(format!(
                "import boto3, json\nkw = dict(endpoint_url='{}', region_name='us-east-1', aws_access_key_id='AKIDSETUP', aws_secret_access_key='setup')\n{script}",
                self.url
            ))
            .output()
            .await?;
        ensure!(
            out.status.success(),
            "boto3: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?.trim().to_string())
    }

    /// The requests moto recorded: (headers, decoded body).
    fn requests(&self) -> Result<Vec<(Value, String)>> {
        use base64::Engine as _;
        let text = std::fs::read_to_string(&self.recording).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l)?;
                let body = v["body"].as_str().unwrap_or_default();
                let body = if v["body_encoded"] == json!(true) {
                    String::from_utf8_lossy(
                        &base64::engine::general_purpose::STANDARD.decode(body)?,
                    )
                    .into_owned()
                } else {
                    body.to_string()
                };
                Ok((v["headers"].clone(), body))
            })
            .collect()
    }
}

/// The role the controller assumes, allowed to get ECR tokens (moto checks the policy).
const ROLE_SETUP: &str = r#"
iam = boto3.client('iam', **kw)
iam.create_role(RoleName='auditor', AssumeRolePolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Principal': {'Federated': 'arn:aws:iam::123456789012:oidc-provider/e2e'}, 'Action': 'sts:AssumeRoleWithWebIdentity'}]}))
iam.put_role_policy(RoleName='auditor', PolicyName='ecr', PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': 'ecr:GetAuthorizationToken', 'Resource': '*'}]}))
"#;

/// An AWS source, its registry behind moto's ECR password, and the refused cases.
async fn aws_sources(ctx: &Ctx, registry: &mut AuthRegistry) -> Result<()> {
    let digest = ctx.signed_artifact(&registry.addr, "app").await?;
    // moto's ECR password for an account.
    registry
        .require("AWS", &format!("{ACCOUNT}-auth-token"))
        .await?;
    let url = format!("oci://{}/{}/app", registry.addr, ctx.ns);
    ctx.fetched_source("app", &url, &digest, json!({"provider": "aws"}))
        .await?;
    Ok(())
}

#[tokio::test]
async fn aws_irsa_web_identity_then_ecr_token_verifies_the_artifact() {
    run("cloud-aws-irsa", |ctx| async move {
        // Free: create_role, put_role_policy, and the controller's unsigned STS call; then
        // the ECR call must pass moto's signature and policy checks.
        let moto = Moto::start(&ctx, 3).await?;
        moto.boto3(ROLE_SETUP).await?;
        let mut registry = AuthRegistry::start(&ctx, "ecr").await?;
        aws_sources(&ctx, &mut registry).await?;
        // A provider: aws source on a host that is no ECR registry gets no AWS credential.
        let mut other = AuthRegistry::start(&ctx, "other").await?;
        let d = ctx
            .push_artifact_to(&other.addr, "elsewhere", "v1", &ctx.artifact_dir("elsewhere", "elsewhere")?)
            .await?;
        other.require("AWS", "whatever").await?;
        ctx.fetched_source("elsewhere", &format!("oci://{}/{}/elsewhere", other.addr, ctx.ns), &d, json!({"provider": "aws"})).await?;
        // spec.serviceAccountName with a provider (object-level workload identity): refused.
        ctx.fetched_source("per-object", &format!("oci://{}/{}/app", registry.addr, ctx.ns), &d, json!({"provider": "aws", "serviceAccountName": "default"})).await?;

        let token_file = ctx.path("web-identity-token");
        std::fs::write(&token_file, "e2e-projected-sa-token")?;
        let _controller = ctx
            .cloud_controller(
                json!({"aws": {"sts": moto.url, "ecr": moto.url}, "registryAliases": {registry.addr.clone(): ECR_HOST}}),
                &[
                    ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/auditor"),
                    ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap()),
                    ("AWS_ROLE_SESSION_NAME", "e2e-session"),
                ],
            )
            .await?;
        ctx.wait_verified("app", "True", "Verified").await?;
        let refused = ctx.wait_verified("elsewhere", "Unknown", "AuthenticationFailed").await?;
        ensure!(refused.contains("is not a aws registry host"), "{refused}");
        let per_object = ctx.wait_verified("per-object", "Unknown", "AuthenticationFailed").await?;
        ensure!(per_object.contains("object-level workload identity"), "{per_object}");

        // What moto received: the web identity exchange, then a SigV4-signed ECR call with the
        // temporary credentials (moto verified the signature and the role's policy).
        let reqs = moto.requests()?;
        let sts: Vec<_> = reqs.iter().filter(|(_, b)| b.contains("Action=AssumeRoleWithWebIdentity")).collect();
        // Once: the exchanged credentials are kept until they expire, even though moto's ECR
        // tokens (expired on arrival) are fetched for every audit.
        ensure!(sts.len() == 1, "one AssumeRoleWithWebIdentity, got {}: {reqs:?}", sts.len());
        for (_, body) in &sts {
            let form = Received { method: "POST".into(), path: "/".into(), headers: Default::default(), body: body.clone() }.form();
            ensure!(form["WebIdentityToken"] == "e2e-projected-sa-token", "{form:?}");
            ensure!(form["RoleArn"] == "arn:aws:iam::123456789012:role/auditor", "{form:?}");
            ensure!(form["RoleSessionName"] == "e2e-session", "{form:?}");
        }
        let ecr: Vec<_> = reqs
            .iter()
            .filter(|(h, _)| h["X-Amz-Target"].as_str().is_some_and(|t| t.ends_with("GetAuthorizationToken")))
            .collect();
        ensure!(!ecr.is_empty(), "no GetAuthorizationToken in {reqs:?}");
        for (h, body) in &ecr {
            let auth = h["Authorization"].as_str().unwrap_or_default();
            ensure!(auth.starts_with("AWS4-HMAC-SHA256 Credential=") && auth.contains("/us-east-1/ecr/aws4_request"), "{auth}");
            ensure!(h.get("X-Amz-Security-Token").is_some(), "no session token: {h}");
            ensure!(body.contains(ACCOUNT), "{body}");
        }
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn aws_eks_pod_identity_credentials_endpoint_then_ecr_token_verifies_the_artifact() {
    run("cloud-aws-pod-identity", |ctx| async move {
        // Free: create_user, put_user_policy, create_access_key; then every call is checked.
        let moto = Moto::start(&ctx, 3).await?;
        let keys: Value = serde_json::from_str(
            &moto
                .boto3(
                    "iam = boto3.client('iam', **kw)\n\
                     iam.create_user(UserName='agent')\n\
                     iam.put_user_policy(UserName='agent', PolicyName='ecr', PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': 'ecr:GetAuthorizationToken', 'Resource': '*'}]}))\n\
                     k = iam.create_access_key(UserName='agent')['AccessKey']\n\
                     print(json.dumps({'id': k['AccessKeyId'], 'secret': k['SecretAccessKey']}))",
                )
                .await?,
        )?;
        let (id, secret) = (keys["id"].as_str().unwrap().to_string(), keys["secret"].as_str().unwrap().to_string());
        // The Pod Identity agent: answers with those credentials to the projected token only.
        let agent = TokenServer::start(move |r| {
            if r.path != "/v1/credentials" || r.headers.get("authorization").map(String::as_str) != Some("e2e-pod-identity-token") {
                return (401, vec![], json!({"message": "unauthorized"}));
            }
            (200, vec![], json!({"AccessKeyId": id, "SecretAccessKey": secret, "Token": null,
                                 "Expiration": "2099-01-01T00:00:00Z"}))
        })
        .await?;
        let mut registry = AuthRegistry::start(&ctx, "ecr").await?;
        aws_sources(&ctx, &mut registry).await?;
        let token_file = ctx.path("pod-identity-token");
        std::fs::write(&token_file, "e2e-pod-identity-token\n")?;
        let _controller = ctx
            .cloud_controller(
                json!({"aws": {"ecr": moto.url}, "registryAliases": {registry.addr.clone(): ECR_HOST}}),
                &[
                    ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &format!("{}/v1/credentials", agent.url)),
                    ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file.to_str().unwrap()),
                ],
            )
            .await?;
        ctx.wait_verified("app", "True", "Verified").await?;
        let got = agent.received();
        ensure!(!got.is_empty() && got.iter().all(|r| r.method == "GET" && r.headers["authorization"] == "e2e-pod-identity-token"), "{got:?}");
        let signed = moto.requests()?.into_iter().filter(|(h, _)| h["Authorization"].as_str().is_some_and(|a| a.contains("/ecr/aws4_request"))).count();
        ensure!(signed > 0, "no signed ECR request reached moto");
        Ok(())
    })
    .await;
}

const GCP_HOST: &str = "europe-west1-docker.pkg.dev";

#[tokio::test]
async fn gcp_metadata_server_token_verifies_the_artifact() {
    run("cloud-gcp-metadata", |ctx| async move {
        let metadata = TokenServer::start(|r| {
            let ok = r.method == "GET"
                && r.path == "/computeMetadata/v1/instance/service-accounts/default/token"
                && r.headers.get("metadata-flavor").map(String::as_str) == Some("Google");
            if !ok {
                return (403, vec![], json!({"error": "forbidden"}));
            }
            (200, vec![("Metadata-Flavor", "Google".into())],
             json!({"access_token": "ya29.e2e-metadata", "expires_in": 3599, "token_type": "Bearer"}))
        })
        .await?;
        let mut registry = AuthRegistry::start(&ctx, "gar").await?;
        let digest = ctx.signed_artifact(&registry.addr, "app").await?;
        registry.require("oauth2accesstoken", "ya29.e2e-metadata").await?;
        ctx.fetched_source("app", &format!("oci://{}/{}/app", registry.addr, ctx.ns), &digest, json!({"provider": "gcp"})).await?;
        let _controller = ctx
            .cloud_controller(json!({"gcp": {"metadata": metadata.url}, "registryAliases": {registry.addr.clone(): GCP_HOST}}), &[])
            .await?;
        ctx.wait_verified("app", "True", "Verified").await?;
        let got = metadata.received();
        ensure!(!got.is_empty(), "the metadata server was not asked");
        // The token is cached (an hour): however often the source is audited, one request.
        ensure!(got.len() == 1, "{} metadata requests", got.len());
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn gcp_workload_identity_federation_from_a_credentials_file_verifies_the_artifact() {
    run("cloud-gcp-federation", |ctx| async move {
        const AUDIENCE: &str = "//iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/e2e/providers/k8s";
        const SA: &str = "auditor@e2e-project.iam.gserviceaccount.com";
        let google = TokenServer::start(|r| {
            let form = r.form();
            if r.path == "/v1/token" {
                let ok = form.get("grant_type").map(String::as_str) == Some("urn:ietf:params:oauth:grant-type:token-exchange")
                    && form.get("audience").map(String::as_str) == Some(AUDIENCE)
                    && form.get("subject_token").map(String::as_str) == Some("e2e-federated-k8s-token")
                    && form.get("subject_token_type").map(String::as_str) == Some("urn:ietf:params:oauth:token-type:jwt")
                    && form.get("requested_token_type").map(String::as_str) == Some("urn:ietf:params:oauth:token-type:access_token");
                return if ok {
                    (200, vec![], json!({"access_token": "e2e-sts-token", "issued_token_type": "urn:ietf:params:oauth:token-type:access_token", "token_type": "Bearer", "expires_in": 3600}))
                } else {
                    (400, vec![], json!({"error": "invalid_request"}))
                };
            }
            if r.path == format!("/v1/projects/-/serviceAccounts/{SA}:generateAccessToken") {
                return if r.headers.get("authorization").map(String::as_str) == Some("Bearer e2e-sts-token") {
                    (200, vec![], json!({"accessToken": "ya29.e2e-impersonated", "expireTime": "2099-01-01T00:00:00Z"}))
                } else {
                    (403, vec![], json!({"error": {"status": "PERMISSION_DENIED"}}))
                };
            }
            (404, vec![], json!({}))
        })
        .await?;
        let mut registry = AuthRegistry::start(&ctx, "gar").await?;
        let digest = ctx.signed_artifact(&registry.addr, "app").await?;
        registry.require("oauth2accesstoken", "ya29.e2e-impersonated").await?;
        ctx.fetched_source("app", &format!("oci://{}/{}/app", registry.addr, ctx.ns), &digest, json!({"provider": "gcp"})).await?;
        let subject = ctx.path("k8s-token");
        std::fs::write(&subject, "e2e-federated-k8s-token")?;
        let creds = ctx.path("credentials.json");
        std::fs::write(&creds, json!({
            "type": "external_account", "audience": AUDIENCE,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": "https://sts.googleapis.com/v1/token",
            "service_account_impersonation_url": format!("https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{SA}:generateAccessToken"),
            "credential_source": {"file": subject, "format": {"type": "text"}},
        }).to_string())?;
        let _controller = ctx
            .cloud_controller(
                json!({"gcp": {"sts": google.url, "iamcredentials": google.url}, "registryAliases": {registry.addr.clone(): GCP_HOST}}),
                &[("GOOGLE_APPLICATION_CREDENTIALS", creds.to_str().unwrap())],
            )
            .await?;
        ctx.wait_verified("app", "True", "Verified").await?;
        let paths: Vec<String> = google.received().into_iter().map(|r| r.path).collect();
        ensure!(
            paths.first().is_some_and(|p| p == "/v1/token") && paths.get(1).is_some_and(|p| p.ends_with(":generateAccessToken")),
            "{paths:?}"
        );
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn azure_workload_identity_then_acr_exchange_verifies_the_artifact() {
    use base64::Engine as _;
    run("cloud-azure", |ctx| async move {
        const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        const CLIENT: &str = "0b6f4d4e-1111-2222-3333-444455556666";
        let exp = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH)?.as_secs() + 3 * 3600;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!({"exp": exp}).to_string());
        let refresh = format!("e30.{payload}.sig");
        let refresh_reply = refresh.clone();
        let registry_host = "myregistry.azurecr.io";
        let azure = TokenServer::start(move |r| {
            let form = r.form();
            if r.path == format!("/{TENANT}/oauth2/v2.0/token") {
                let ok = form.get("client_id").map(String::as_str) == Some(CLIENT)
                    && form.get("grant_type").map(String::as_str) == Some("client_credentials")
                    && form.get("scope").map(String::as_str) == Some("https://management.azure.com/.default")
                    && form.get("client_assertion_type").map(String::as_str) == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                    && form.get("client_assertion").map(String::as_str) == Some("e2e-azure-federated-token");
                return if ok {
                    (200, vec![], json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "e2e-entra-token"}))
                } else {
                    (400, vec![], json!({"error": "invalid_client"}))
                };
            }
            if r.path == "/oauth2/exchange" {
                let ok = form.get("grant_type").map(String::as_str) == Some("access_token")
                    && form.get("service").map(String::as_str) == Some(registry_host)
                    && form.get("access_token").map(String::as_str) == Some("e2e-entra-token");
                return if ok {
                    (200, vec![], json!({"refresh_token": refresh_reply}))
                } else {
                    (401, vec![], json!({"error": "unauthorized"}))
                };
            }
            (404, vec![], json!({}))
        })
        .await?;
        let mut registry = AuthRegistry::start(&ctx, "acr").await?;
        let digest = ctx.signed_artifact(&registry.addr, "app").await?;
        registry.require("00000000-0000-0000-0000-000000000000", &refresh).await?;
        ctx.fetched_source("app", &format!("oci://{}/{}/app", registry.addr, ctx.ns), &digest, json!({"provider": "azure"})).await?;
        let token = ctx.path("azure-token");
        std::fs::write(&token, "e2e-azure-federated-token")?;
        let _controller = ctx
            .cloud_controller(
                json!({"azure": {"authority": azure.url, "exchange": azure.url}, "registryAliases": {registry.addr.clone(): registry_host}}),
                &[("AZURE_CLIENT_ID", CLIENT), ("AZURE_TENANT_ID", TENANT), ("AZURE_FEDERATED_TOKEN_FILE", token.to_str().unwrap())],
            )
            .await?;
        ctx.wait_verified("app", "True", "Verified").await?;
        let paths: Vec<String> = azure.received().into_iter().map(|r| r.path).collect();
        ensure!(paths == [format!("/{TENANT}/oauth2/v2.0/token"), "/oauth2/exchange".to_string()], "{paths:?}");
        Ok(())
    })
    .await;
}
