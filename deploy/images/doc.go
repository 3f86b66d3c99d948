// Package images holds the services' Containerfiles and their test (make
// images, build tag images): both images built with podman from scratch,
// their configuration and files inspected, their binaries reproduced.
package images
