module github.com/caddy-cognito/caddy-cognito

go 1.26.0
