from setuptools import setup

setup(
    name='rhc',
    version='2.0.0',
    description='A small-footprint microservice framework: a micro file, plain functions, one event loop.',
    long_description=open('README.rst', encoding='utf-8').read(),
    long_description_content_type='text/x-rst',
    packages=['rhc', 'micro'],
    python_requires='>=3.10',
    install_requires=[],
    extras_require={
        'test': ['pytest', 'pytest-timeout', 'hypothesis', 'h11', 'docutils', 'prometheus-client',
                 'opentelemetry-api', 'sseclient-py', 'openapi-spec-validator', 'schemathesis',
                 'pyyaml', 'aiohttp'],
        'bench': ['aiohttp', 'uvicorn', 'httptools', 'uvloop', 'starlette', 'tornado',
                  'flask', 'gunicorn', 'httpx', 'requests'],
    },
    entry_points={'console_scripts': ['rhc = rhc.launch:main']},
    classifiers=[
        'Programming Language :: Python :: 3',
        'Framework :: AsyncIO',
        'Topic :: Internet :: WWW/HTTP :: HTTP Servers',
    ],
)
