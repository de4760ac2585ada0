import rhc.micro


def check_token(request):
    """AUTH: truthy lets the request through; otherwise rhc answers 401."""
    return request.headers.get('Authorization') == f'Bearer {rhc.micro.config.token}'


def health(request):
    return {'ok': True}


def secret(request):
    return {'secret': 42}
