import rhc.micro


def greet(request, name):
    config = rhc.micro.config
    return ' '.join([f'{config.greeting}, {name}!'] * config.repeat)
