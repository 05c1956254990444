// Command alicom-push is the push function: an HTTP-triggered function that receives what MNS
// pushes to an HTTP endpoint (topic push, verified by its signature; see docs/push.md) and hands
// each message to the same router as the drain. It runs under Function Compute 3.0 (HTTP
// trigger, runtime go1, binary main), under AWS Lambda (function URL, provided.al2023, binary
// bootstrap), and otherwise as a plain HTTP server:
//
//	MNS_CERT_URL_ALLOW=http://127.0.0.1:9911/_mnslocal/ go run ./functions/alicom-push -listen 127.0.0.1:8080
//
// Every message is logged as one JSON line by the default handler. To handle messages in your
// own code, copy this file and register handlers, as for the drain; see README.md.
package main

import "github.com/alicom-drain/alicom-drain/shared/app"

func main() {
	app.MainHTTP(nil)
}
