// Command alicom-drain is the timer-triggered drain function: under Function Compute (runtime
// go1, binary main) when FC_RUNTIME_API is set, under AWS Lambda (provided.al2023, binary
// bootstrap) when AWS_LAMBDA_RUNTIME_API is set, and otherwise one local invocation:
//
//	go run ./functions/alicom-drain -event events/fc-timer.json
//
// Every message is logged as one JSON line by the default handler. To handle messages in your
// own code, copy this file and register handlers; see README.md.
package main

import "github.com/alicom-drain/alicom-drain/shared/app"

func main() {
	app.Main(nil)
}
