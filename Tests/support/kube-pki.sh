#!/usr/bin/env bash
# kube-pki.sh DIR ADDRESS:PORT: a CA, a server certificate for ADDRESS, client
# certificates for "admin" (kubectl, debug endpoints) and "herald", a token, and
# kubeconfigs DIR/admin.kubeconfig and DIR/herald.kubeconfig (certificates as files)
# plus DIR/herald-inline.kubeconfig (as base64 data). For the test API server only.
set -euo pipefail
dir=$1 server=$2
address=${server%:*}
mkdir -p "$dir"
cd "$dir"
openssl_quiet() { openssl "$@" 2>/dev/null; }
openssl_quiet req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -keyout ca.key -out ca.crt -subj "/CN=herald-test-ca"
issue() { # issue NAME CN [SAN]
    openssl_quiet req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
    if [ -n "${3:-}" ]; then
        printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$3" >"$1.ext"
    else
        printf 'extendedKeyUsage=clientAuth\n' >"$1.ext"
    fi
    openssl_quiet x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile "$1.ext" -out "$1.crt"
    rm -f "$1.csr" "$1.ext"
}
issue server kube-apiserver "IP:$address"
issue admin admin
issue herald herald
head -c 24 /dev/urandom | base64 | tr -d '/+=' >token
chmod 600 ./*.key token
kubeconfig() { # kubeconfig USER CERT-LINES
    cat <<YAML
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://$server
$3
users:
- name: $1
  user:
$2
contexts:
- name: test
  context:
    cluster: test
    user: $1
    namespace: default
current-context: test
YAML
}
kubeconfig admin "    client-certificate: $PWD/admin.crt
    client-key: $PWD/admin.key" "    certificate-authority: $PWD/ca.crt" >admin.kubeconfig
kubeconfig herald "    client-certificate: $PWD/herald.crt
    client-key: $PWD/herald.key" "    certificate-authority: $PWD/ca.crt" >herald.kubeconfig
kubeconfig herald "    client-certificate-data: $(base64 -w0 herald.crt)
    client-key-data: $(base64 -w0 herald.key)" "    certificate-authority-data: $(base64 -w0 ca.crt)" >herald-inline.kubeconfig
kubeconfig herald "    token: $(cat token)" "    certificate-authority: $PWD/ca.crt" >herald-token.kubeconfig
chmod 600 ./*.kubeconfig
chmod 600 ./*.kubeconfig
