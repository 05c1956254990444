package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"strings"
	"time"

	ali_mns "github.com/aliyun/aliyun-mns-go-sdk"
)

func init() {
	commands["create-topic"] = command{"create a topic", func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		return func(ctx context.Context, c *cli, args []string) error {
			name, err := oneName(args, "topic")
			if err != nil {
				return err
			}
			err = c.do(ctx, func(client ali_mns.MNSClient) error {
				return ali_mns.NewMNSTopicManager(client).CreateSimpleTopic(name)
			})
			if code := errorCode(err); code == "TopicAlreadyExist" || ali_mns.ERR_MNS_TOPIC_ALREADY_EXIST_AND_HAVE_SAME_ATTR.IsEqual(err) {
				fmt.Fprintf(c.stdout, "Topic already exists. TopicName:%s\n", name)
				return nil
			}
			if err != nil {
				return fmt.Errorf("create topic %s: %w", name, err)
			}
			fmt.Fprintf(c.stdout, "Create Topic Succeed! TopicName:%s\n", name)
			return nil
		}
	}}

	commands["delete-topic"] = command{"delete a topic and its subscriptions", func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		return func(ctx context.Context, c *cli, args []string) error {
			name, err := oneName(args, "topic")
			if err != nil {
				return err
			}
			if err := c.do(ctx, func(client ali_mns.MNSClient) error { return ali_mns.NewMNSTopicManager(client).DeleteTopic(name) }); err != nil {
				return fmt.Errorf("delete topic %s: %w", name, err)
			}
			fmt.Fprintf(c.stdout, "Delete Topic Succeed! TopicName:%s\n", name)
			return nil
		}
	}}

	commands["get-topic"] = command{"show a topic's attributes", func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		return func(ctx context.Context, c *cli, args []string) error {
			name, err := oneName(args, "topic")
			if err != nil {
				return err
			}
			var attr ali_mns.TopicAttribute
			if err := c.do(ctx, func(client ali_mns.MNSClient) (err error) {
				attr, err = ali_mns.NewMNSTopicManager(client).GetTopicAttributes(name)
				return err
			}); err != nil {
				return fmt.Errorf("get topic %s: %w", name, err)
			}
			fmt.Fprintf(c.stdout, "TopicName:%s MessageCount:%d MaximumMessageSize:%d CreateTime:%s LoggingEnabled:%t\n",
				attr.TopicName, attr.MessageCount, attr.MaxMessageSize, epoch(attr.CreateTime), attr.LoggingEnabled)
			return nil
		}
	}}

	commands["subscribe"] = command{"subscribe an HTTP endpoint to a topic", func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		topic := fs.String("topic", "", "topic name (required)")
		name := fs.String("name", "", "subscription name (default <topic>-Sub)")
		format := fs.String("format", "XML", "notification format: XML, JSON or SIMPLIFIED")
		strategy := fs.String("strategy", "BACKOFF_RETRY", "retry strategy: BACKOFF_RETRY or EXPONENTIAL_DECAY_RETRY")
		filterTag := fs.String("filter-tag", "", "push only messages published with this tag")
		return func(ctx context.Context, c *cli, args []string) error {
			if *topic == "" || len(args) != 1 {
				return usageError("want -topic and one endpoint URL")
			}
			endpoint := args[0]
			if !strings.HasPrefix(endpoint, "http://") && !strings.HasPrefix(endpoint, "https://") {
				return usageError("endpoint %q: want an http:// or https:// URL", endpoint)
			}
			f := strings.ToUpper(*format)
			if f != "XML" && f != "JSON" && f != "SIMPLIFIED" {
				return usageError("-format %q: want XML, JSON or SIMPLIFIED", *format)
			}
			s := strings.ToUpper(*strategy)
			if s != string(ali_mns.BACKOFF_RETRY) && s != string(ali_mns.EXPONENTIAL_DECAY_RETRY) {
				return usageError("-strategy %q: want BACKOFF_RETRY or EXPONENTIAL_DECAY_RETRY", *strategy)
			}
			sub := *name
			if sub == "" {
				sub = *topic + "-Sub"
			}
			client, err := c.mns()
			if err != nil {
				return err
			}
			req := ali_mns.MessageSubsribeRequest{
				Endpoint:            endpoint,
				FilterTag:           *filterTag,
				NotifyStrategy:      ali_mns.NotifyStrategyType(s),
				NotifyContentFormat: ali_mns.NotifyContentFormatType(f),
			}
			if err := call(ctx, func() error { return ali_mns.NewMNSTopic(*topic, client).Subscribe(sub, req) }); err != nil {
				return fmt.Errorf("subscribe %s to %s: %w", sub, *topic, err)
			}
			fmt.Fprintf(c.stdout, "Create Subscription Succeed! TopicName:%s SubName:%s Endpoint:%s Format:%s Strategy:%s\n",
				*topic, sub, endpoint, f, s)
			return nil
		}
	}}

	commands["get-subscription"] = command{"show a subscription", func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		topic := fs.String("topic", "", "topic name (required)")
		name := fs.String("name", "", "subscription name (required)")
		return func(ctx context.Context, c *cli, args []string) error {
			if *topic == "" || *name == "" || len(args) != 0 {
				return usageError("want -topic and -name")
			}
			var attr ali_mns.SubscriptionAttribute
			if err := c.do(ctx, func(client ali_mns.MNSClient) (err error) {
				attr, err = ali_mns.NewMNSTopic(*topic, client).GetSubscriptionAttributes(*name)
				return err
			}); err != nil {
				return fmt.Errorf("get subscription %s of %s: %w", *name, *topic, err)
			}
			fmt.Fprintf(c.stdout, "TopicName:%s SubName:%s Endpoint:%s Format:%s Strategy:%s FilterTag:%s\n",
				attr.TopicName, attr.SubscriptionName, attr.Endpoint, attr.NotifyContentFormat, attr.NotifyStrategy, attr.FilterTag)
			return nil
		}
	}}

	commands["unsubscribe"] = command{"delete a subscription", func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		topic := fs.String("topic", "", "topic name (required)")
		name := fs.String("name", "", "subscription name (default <topic>-Sub)")
		return func(ctx context.Context, c *cli, args []string) error {
			if *topic == "" || len(args) != 0 {
				return usageError("want -topic (and -name)")
			}
			sub := *name
			if sub == "" {
				sub = *topic + "-Sub"
			}
			if err := c.do(ctx, func(client ali_mns.MNSClient) error { return ali_mns.NewMNSTopic(*topic, client).Unsubscribe(sub) }); err != nil {
				return fmt.Errorf("unsubscribe %s from %s: %w", sub, *topic, err)
			}
			fmt.Fprintf(c.stdout, "Unsubscribe Succeed! TopicName:%s SubName:%s\n", *topic, sub)
			return nil
		}
	}}

	commands["publish"] = command{"publish messages to a topic", func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		topic := fs.String("topic", "", "topic name (required)")
		tag := fs.String("tag", "", "message tag (subscriptions with a FilterTag receive only their tag)")
		b64 := fs.Bool("base64", false, "publish base64 of each message, the way Alicom encodes bodies")
		return func(ctx context.Context, c *cli, args []string) error {
			if *topic == "" {
				return usageError("want -topic")
			}
			bodies, err := bodiesFrom(args, c)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				bodies = guideMessages(3)
			}
			client, err := c.mns()
			if err != nil {
				return err
			}
			t := ali_mns.NewMNSTopic(*topic, client)
			fmt.Fprintf(c.stdout, "==========Publish Message To Topic==========\nTopicName:%s\nMessageCount:%d\n", *topic, len(bodies))
			for _, body := range bodies {
				sent := body
				if *b64 {
					sent = base64.StdEncoding.EncodeToString([]byte(body))
				}
				var resp ali_mns.MessageSendResponse
				if err := call(ctx, func() (err error) {
					resp, err = t.PublishMessage(ali_mns.MessagePublishRequest{MessageBody: sent, MessageTag: *tag})
					return err
				}); err != nil {
					return fmt.Errorf("publish to %s: %w", *topic, err)
				}
				fmt.Fprintf(c.stdout, "Publish Message Succeed. MessageBody:%s MessageID:%s\n", body, resp.MessageId)
			}
			return nil
		}
	}}
}

// guideMessages are the messages the topic push guide's publishmessage.py publishes.
func guideMessages(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("I am test message %d.", i)
	}
	return out
}

func oneName(args []string, what string) (string, error) {
	if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
		return "", usageError("want one %s name", what)
	}
	return args[0], nil
}

func epoch(s int64) string {
	if s == 0 {
		return "-"
	}
	return time.Unix(s, 0).UTC().Format(time.RFC3339)
}
