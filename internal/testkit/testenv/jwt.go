package testenv

import (
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

func jwtRegistered(userID int64) jwt.RegisteredClaims {
	return jwt.RegisteredClaims{Subject: fmt.Sprint(userID)}
}
