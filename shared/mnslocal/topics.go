package mnslocal

import "net/http"

// topicState holds topics, subscriptions and push delivery. Not implemented yet: every
// topic request is answered TopicNotExist.
type topicState struct{}

// newTopicState is called once by Start, before the server accepts requests.
func newTopicState(s *Server) *topicState { return &topicState{} }

// closeTopics is called once by Close, after long polls were told to end and before the
// HTTP server shuts down: stop push workers here.
func (s *Server) closeTopics() {}

// topicOperation names the operation of a request under /topics (segs are the path
// segments, segs[0] == "topics") for stats and fault injection. The body was already read
// and r.Body rewound.
func topicOperation(r *http.Request, segs []string) string {
	switch {
	case len(segs) == 2:
		switch r.Method {
		case http.MethodPut:
			return "CreateTopic"
		case http.MethodDelete:
			return "DeleteTopic"
		case http.MethodGet:
			return "GetTopicAttributes"
		}
	case len(segs) == 3 && segs[2] == "messages" && r.Method == http.MethodPost:
		return "PublishMessage"
	case len(segs) == 4 && segs[2] == "subscriptions":
		switch r.Method {
		case http.MethodPut:
			return "Subscribe"
		case http.MethodDelete:
			return "Unsubscribe"
		case http.MethodGet:
			return "GetSubscriptionAttributes"
		}
	}
	return opUnknown
}

// serveTopics answers an authenticated request under /topics (only the customer key gets
// here: STS credentials are refused before). The request id header is already set.
func (s *Server) serveTopics(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, http.StatusNotFound, "TopicNotExist", "The topic you provided is not exist.")
}
