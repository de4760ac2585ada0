"""tornado peer: python tornado_app.py PORT [--access-log]

Access log off unless --access-log, which turns it on the way tornado
applications usually do: tornado.log.enable_pretty_logging() (INFO, stderr)
and the Application's default log_function.
"""
import asyncio
import sys

import tornado.log
import tornado.web


class Ping(tornado.web.RequestHandler):
    def get(self):
        self.write({'ping': 'pong'})


class User(tornado.web.RequestHandler):
    def get(self, user_id):
        user_id = int(user_id)
        self.write({'id': user_id, 'name': f'user{user_id}'})


class Echo(tornado.web.RequestHandler):
    def post(self):
        self.set_header('Content-Type', 'application/octet-stream')
        self.write(self.request.body)


async def main(port, logged):
    options = {} if logged else {'log_function': lambda handler: None}
    if logged:
        tornado.log.enable_pretty_logging()
    app = tornado.web.Application([
        (r'/test/ping', Ping),
        (r'/users/(\d+)', User),
        (r'/echo', Echo),
    ], **options)
    app.listen(port, address='127.0.0.1')
    await asyncio.Event().wait()


if __name__ == '__main__':
    asyncio.run(main(int(sys.argv[1]), '--access-log' in sys.argv[2:]))
