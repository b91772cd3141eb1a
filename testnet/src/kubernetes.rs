//! The Kubernetes target: a kustomize directory (`deploy/kubernetes/<network>/`) with one
//! StatefulSet per node (one replica, a volumeClaimTemplate for its data, the node's command line
//! from the manifest), a headless Service giving every pod a stable name
//! (`<node>-0.luxtensor.<namespace>.svc`, which is what peers and `--advertise` use), the genesis
//! as a generated ConfigMap and the validator keys as a generated Secret, native gRPC liveness and
//! readiness probes on the node's health service, the metrics port named and annotated for
//! Prometheus (`prometheus.io/scrape`), resource requests and limits, and the image's
//! user (uid 10001). No cluster runs in CI: it renders the directory with `kubectl kustomize` and
//! validates every object with `kubernetes-validate --strict`. The genesis and key files are
//! copied into the directory, because kustomize reads nothing outside it.

use std::fmt::Write;

use crate::compose::{GRPC_PORT, METRICS_PORT, list};
use crate::files::Output;
use testkit::manifest::{Manifest, NodeSpec, Role};

/// The kustomize directory of network `name`, relative to the repository root.
pub fn dir(name: &str) -> String {
    format!("deploy/kubernetes/{name}")
}

fn host(name: &str) -> String {
    format!("{name}-0.luxtensor:{GRPC_PORT}")
}

/// `luxtensor run …` for `node`, with Kubernetes host names for itself and its peers.
fn args(node: &NodeSpec) -> Vec<String> {
    crate::compose::command(node)
        .into_iter()
        .map(|a| match a.strip_suffix(&format!(":{GRPC_PORT}")) {
            Some(name) => host(name),
            None => a,
        })
        .collect()
}

fn statefulset(m: &Manifest, node: &NodeSpec) -> String {
    let name = &node.name;
    let mut mounts = String::from(
        "            - name: data\n              mountPath: /var/lib/luxtensor/data\n            - name: genesis\n              mountPath: /etc/luxtensor/genesis.json\n              subPath: genesis.json\n",
    );
    let mut volumes =
        String::from("        - name: genesis\n          configMap:\n            name: genesis\n");
    if let Some(key) = node.key_file() {
        let _ = write!(
            mounts,
            "            - name: keys\n              mountPath: /etc/luxtensor/{key}\n              subPath: {key}\n"
        );
        volumes.push_str(
            "        - name: keys\n          secret:\n            secretName: validator-keys\n            defaultMode: 0444\n",
        );
    }
    let role = match node.role {
        Role::Validator => "validator",
        Role::Full => "full",
    };
    // The same labels on the StatefulSet and on its pods.
    let labels = |indent: &str| {
        format!(
            "{indent}app.kubernetes.io/name: luxtensor\n{indent}app.kubernetes.io/instance: {}\n\
             {indent}luxtensor.io/node: {name}\n{indent}luxtensor.io/role: {role}",
            m.network.name
        )
    };
    let (set_labels, pod_labels) = (labels("    "), labels("        "));
    format!(
        r#"---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {name}
  labels:
{set_labels}
spec:
  serviceName: luxtensor
  replicas: 1
  podManagementPolicy: Parallel
  selector:
    matchLabels:
      luxtensor.io/node: {name}
  template:
    metadata:
      labels:
{pod_labels}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "{METRICS_PORT}"
        prometheus.io/path: /metrics
    spec:
      securityContext:
        runAsUser: 10001
        runAsGroup: 10001
        fsGroup: 10001
      containers:
        - name: node
          image: luxtensor-node:dev
          imagePullPolicy: IfNotPresent
          args: {args}
          env:
            - name: LUXTENSOR_GENESIS
              value: /etc/luxtensor/genesis.json
            - name: LUXTENSOR_CONTROL_TOKEN
              valueFrom:
                secretKeyRef:
                  name: control-token
                  key: token
          ports:
            - name: grpc
              containerPort: {GRPC_PORT}
            - name: metrics
              containerPort: {METRICS_PORT}
          readinessProbe:
            grpc:
              port: {GRPC_PORT}
            periodSeconds: 2
          livenessProbe:
            grpc:
              port: {GRPC_PORT}
            initialDelaySeconds: 10
            periodSeconds: 10
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
            limits:
              cpu: "1"
              memory: 512Mi
          volumeMounts:
{mounts}      volumes:
{volumes}  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: ["ReadWriteOnce"]
        resources:
          requests:
            storage: 1Gi
"#,
        args = list(&args(node)),
    )
}

/// The runner's verify phase as a Job: `luxtensor testnet verify` against every node's stable
/// name, until each has finalized a height and all are proven equal (retried while the network
/// comes up; `kubectl wait --for=condition=complete job/verify` waits for its verdict).
fn verify_job(m: &Manifest) -> String {
    let nodes: Vec<String> = m
        .nodes
        .iter()
        .map(|n| format!("{0}=http://{0}-0.luxtensor:{GRPC_PORT}", n.name))
        .collect();
    let args = vec![
        "testnet".to_string(),
        "verify".into(),
        "--nodes".into(),
        nodes.join(","),
        "--min-height".into(),
        "10".into(),
        "--timeout".into(),
        "600s".into(),
    ];
    format!(
        r#"# The runner's verify phase in-cluster: every node finalizes height 10 and all hold the same
# chain and state. kubectl wait --for=condition=complete job/verify -n luxtensor-{name} --timeout=15m
apiVersion: batch/v1
kind: Job
metadata:
  name: verify
  labels:
    app.kubernetes.io/name: luxtensor-verify
    app.kubernetes.io/instance: {name}
spec:
  backoffLimit: 4
  activeDeadlineSeconds: 1800
  template:
    metadata:
      labels:
        app.kubernetes.io/name: luxtensor-verify
        app.kubernetes.io/instance: {name}
    spec:
      restartPolicy: OnFailure
      securityContext:
        runAsUser: 10001
        runAsGroup: 10001
      containers:
        - name: verify
          image: luxtensor-node:dev
          imagePullPolicy: IfNotPresent
          args: {args}
          resources:
            requests:
              cpu: 50m
              memory: 64Mi
            limits:
              cpu: 500m
              memory: 256Mi
"#,
        name = m.network.name,
        args = list(&args),
    )
}

/// The kustomize directory for `m`: kustomization, service, one StatefulSet per node, and copies
/// of the genesis and key files (`network` gives them: the outputs of [`crate::files`] plus the
/// key files the manifest names, read from `root`).
pub fn kustomize(
    m: &Manifest,
    manifest_path: &str,
    network_files: &[Output],
    given_keys: &[(String, Vec<u8>)],
) -> Vec<Output> {
    let d = dir(&m.network.name);
    let mut out = Vec::new();
    let mut kust = format!(
        "# Generated by `luxtensor-testnet generate kubernetes {manifest_path}`: edit the manifest,\n\
         # then regenerate. On a cluster: kubectl apply -k {d}\n\
         apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
         namespace: luxtensor-{name}\nresources:\n  - namespace.yaml\n  - service.yaml\n",
        name = m.network.name
    );
    for node in &m.nodes {
        let _ = writeln!(kust, "  - {}.yaml", node.name);
        out.push(Output {
            path: format!("{d}/{}.yaml", node.name),
            bytes: statefulset(m, node).into_bytes(),
        });
    }
    let _ = writeln!(kust, "  - verify-job.yaml");
    out.push(Output {
        path: format!("{d}/verify-job.yaml"),
        bytes: verify_job(m).into_bytes(),
    });
    let _ = write!(
        kust,
        "configMapGenerator:\n  - name: genesis\n    files:\n      - genesis.json\n\
         secretGenerator:\n  - name: control-token\n    literals:\n      - token={token}\n",
        token = m.network.control_token
    );
    let keys: Vec<String> = m.nodes.iter().filter_map(NodeSpec::key_file).collect();
    if !keys.is_empty() {
        let _ = writeln!(kust, "  - name: validator-keys\n    files:");
        for k in &keys {
            let _ = writeln!(kust, "      - {k}");
        }
    }
    out.push(Output {
        path: format!("{d}/kustomization.yaml"),
        bytes: kust.into_bytes(),
    });
    out.push(Output {
        path: format!("{d}/namespace.yaml"),
        bytes: format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: luxtensor-{}\n",
            m.network.name
        )
        .into_bytes(),
    });
    out.push(Output {
        path: format!("{d}/service.yaml"),
        bytes: format!(
            "# Headless: every pod gets a stable DNS name, <node>-0.luxtensor.\n\
             apiVersion: v1\nkind: Service\nmetadata:\n  name: luxtensor\nspec:\n  clusterIP: None\n  \
             publishNotReadyAddresses: true\n  selector:\n    app.kubernetes.io/name: luxtensor\n  \
             ports:\n    - name: grpc\n      port: {GRPC_PORT}\n      targetPort: grpc\n"
        )
        .into_bytes(),
    });
    // The genesis and every key file, copied next to the kustomization.
    for o in network_files {
        let file = o.path.rsplit('/').next().unwrap_or(&o.path);
        out.push(Output {
            path: format!("{d}/{file}"),
            bytes: o.bytes.clone(),
        });
    }
    for (file, bytes) in given_keys {
        out.push(Output {
            path: format!("{d}/{file}"),
            bytes: bytes.clone(),
        });
    }
    out
}
