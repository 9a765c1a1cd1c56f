package sagemaker

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sagemaker-go/training/internal/idlehttp"
)

// explainTimeouts is an API option that turns a call whose endpoint did
// not answer in time into an *idlehttp.NoAnswerError naming the service
// and the URL.
func explainTimeouts(service string) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("ExplainTimeouts",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleInitialize(ctx, in)
				return out, md, idlehttp.Explain(service, err)
			}), middleware.Before)
	}
}

// sendBody is an API option that sends body as the request's JSON instead
// of the serialized input, keeping everything else the SDK does (the
// operation's headers, endpoint resolution, signing, retries). The input's
// own validation is left out: the body is not the input.
func sendBody(body []byte) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		if _, err := s.Initialize.Remove("OperationInputValidation"); err != nil {
			return fmt.Errorf("sending a request body: %w", err)
		}
		return s.Serialize.Insert(middleware.SerializeMiddlewareFunc("RequestBodyAsWritten",
			func(ctx context.Context, in middleware.SerializeInput, next middleware.SerializeHandler) (middleware.SerializeOutput, middleware.Metadata, error) {
				req, ok := in.Request.(*smithyhttp.Request)
				if !ok {
					return middleware.SerializeOutput{}, middleware.Metadata{}, fmt.Errorf("unexpected transport type %T", in.Request)
				}
				r, err := req.SetStream(bytes.NewReader(body))
				if err != nil {
					return middleware.SerializeOutput{}, middleware.Metadata{}, err
				}
				in.Request = r
				return next.HandleSerialize(ctx, in)
			}), "OperationSerializer", middleware.After)
	}
}

// keepBody is an API option that stores the body of a successful answer in
// *dst (the last attempt's), before the SDK deserializes it.
func keepBody(dst *[]byte) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		return s.Deserialize.Insert(middleware.DeserializeMiddlewareFunc("KeepAnswerBody",
			func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleDeserialize(ctx, in)
				resp, ok := out.RawResponse.(*smithyhttp.Response)
				if err != nil || !ok || resp.StatusCode < 200 || resp.StatusCode > 299 || resp.Body == nil {
					return out, md, err
				}
				b, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				if rerr != nil {
					return out, md, rerr
				}
				*dst = b
				resp.Body = io.NopCloser(bytes.NewReader(b))
				return out, md, nil
			}), "OperationDeserializer", middleware.After)
	}
}
