// Package serving is what every replica of the operator does to serve, leader or not: it writes the webhook
// serving certificate from the rotator's Secret into the certificate directory and keeps it current
// (CertSecretSync), starts the webhook server once that certificate is there (ServeWhenCertsExist), decides
// when it is ready for admission requests (Readiness), and puts the metrics endpoint behind authentication and
// authorization by the API server (MetricsAuth).
package serving
