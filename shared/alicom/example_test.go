package alicom_test

import (
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/alicom-drain/alicom-drain/shared/alicom"
)

// Decode takes a body as MNS returns it and yields the typed receipt; an SmsUp's send_time may
// come in either documented form and its sequence_id as a number or a string.
func ExampleDecode() {
	body := base64.StdEncoding.EncodeToString([]byte(
		`{"phone_number":"13000000000","content":"TD","send_time":"20170901000000","dest_code":"123456","sequence_id":1234567890}`))
	_, payload, err := alicom.Decode(alicom.TypeSmsUp, body, "")
	if err != nil {
		panic(err)
	}
	up := payload.(alicom.SmsUp)
	fmt.Println(up.Content, up.SequenceID, up.SendTime.UTC())

	_, _, err = alicom.Decode(alicom.TypeSmsUp, body, "00000000000000000000000000000000")
	fmt.Println(errors.Is(err, alicom.ErrMD5Mismatch))
	// Output:
	// TD 1234567890 2017-08-31 16:00:00 +0000 UTC
	// true
}
