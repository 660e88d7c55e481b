package local

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certSpec is one certificate the cluster needs, signed by one of its CAs.
type certSpec struct {
	name   string // file stem under pki/
	ca     string // stem of the signing CA
	cn     string
	orgs   []string
	server bool
	client bool
	dns    []string
	ips    []net.IP
}

// certValidity is long enough that a cluster left up never expires under a
// test, short enough to be obviously throwaway.
const certValidity = 365 * 24 * time.Hour

// certSpecs lists every certificate, as kubeadm would issue them: one client
// identity per component (so RBAC and the Node authorizer see who is who),
// serving certificates whose SANs cover every address a client dials.
func (c *Cluster) certSpecs() []certSpec {
	loop := net.ParseIP("127.0.0.1")
	node := net.ParseIP(NodeIP)
	return []certSpec{
		{name: "apiserver", ca: "ca", cn: "kube-apiserver", server: true,
			dns: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost", NodeName},
			ips: []net.IP{node, net.ParseIP(KubernetesServiceIP), loop}},
		{name: "apiserver-kubelet-client", ca: "ca", cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}, client: true},
		{name: "apiserver-etcd-client", ca: "etcd-ca", cn: "kube-apiserver-etcd-client", client: true},
		{name: "etcd-server", ca: "etcd-ca", cn: "etcd", server: true, client: true, dns: []string{"localhost"}, ips: []net.IP{loop}},
		{name: "etcd-healthcheck-client", ca: "etcd-ca", cn: "kube-etcd-healthcheck-client", client: true},
		{name: "admin", ca: "ca", cn: "kubernetes-admin", orgs: []string{"system:masters"}, client: true},
		{name: "controller-manager", ca: "ca", cn: "system:kube-controller-manager", client: true},
		{name: "scheduler", ca: "ca", cn: "system:kube-scheduler", client: true},
		{name: "kubelet-client", ca: "ca", cn: "system:node:" + NodeName, orgs: []string{"system:nodes"}, client: true},
		{name: "kubelet-server", ca: "ca", cn: NodeName, server: true, dns: []string{NodeName, "localhost"}, ips: []net.IP{node, loop}},
		{name: "kube-proxy", ca: "ca", cn: "system:kube-proxy", client: true},
		{name: "prometheus", ca: "ca", cn: "perfrun:prometheus", client: true},
		{name: "front-proxy-client", ca: "front-proxy-ca", cn: "front-proxy-client", client: true},
	}
}

// ensurePKI creates the CAs, the certificates and the service-account key
// when they are missing; existing ones are kept, so `up` after `down`
// (without --wipe) keeps the cluster's identity and its kubeconfig valid.
func (c *Cluster) ensurePKI() error {
	dir := c.path("pki")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating pki folder: %w", err)
	}
	cas := map[string]*x509.Certificate{}
	caKeys := map[string]crypto.Signer{}
	for _, name := range []string{"ca", "etcd-ca", "front-proxy-ca"} {
		cert, key, err := loadOrCreateCA(dir, name)
		if err != nil {
			return fmt.Errorf("CA %s: %w", name, err)
		}
		cas[name], caKeys[name] = cert, key
	}
	for _, s := range c.certSpecs() {
		if exists(filepath.Join(dir, s.name+".crt")) && exists(filepath.Join(dir, s.name+".key")) {
			continue
		}
		if err := issue(dir, s, cas[s.ca], caKeys[s.ca]); err != nil {
			return fmt.Errorf("certificate %s: %w", s.name, err)
		}
	}
	// The service-account token signing key (the apiserver signs, and
	// verifies with its public half).
	if !exists(filepath.Join(dir, "sa.key")) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		if err := writeKey(filepath.Join(dir, "sa.key"), key); err != nil {
			return err
		}
		pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func loadOrCreateCA(dir, name string) (*x509.Certificate, crypto.Signer, error) {
	crtPath, keyPath := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if exists(crtPath) && exists(keyPath) {
		return loadPair(crtPath, keyPath)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "perfrun-local-" + name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	if err := writeKey(keyPath, key); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(crtPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func issue(dir string, s certSpec, ca *x509.Certificate, caKey crypto.Signer) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: s.cn, Organization: s.orgs},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames:     s.dns,
		IPAddresses:  s.ips,
	}
	if s.server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if s.client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	if err := writeKey(filepath.Join(dir, s.name+".key"), key); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, s.name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func loadPair(crtPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	crtPEM, err := os.ReadFile(crtPath)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(crtPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, errors.New("not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	return n
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
